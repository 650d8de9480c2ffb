#!/usr/bin/env bash
# resa_embed end to end on tests/fixtures/images (RGB, 8- and 16-bit gray, RGBA, 1x1, JPEG, a corrupt
# PNG, a text file), with the 3-channel encoder test_encoder saves: the six images embedded, the corrupt
# one named, a query's neighbours and contact sheet, reuse of the written features, clear errors.
# Usage: test_embed.sh <resa_embed binary> <encoder.safetensors> <images dir> <scratch dir>
set -uo pipefail
BIN=$1 ENC=$2 IMAGES=$3 TMP=$4
rm -rf "$TMP" && mkdir -p "$TMP"
fail() { echo "FAIL: $1"; for f in "$TMP"/*.txt; do echo "--- $f"; cat "$f"; done; exit 1; }

"$BIN" --encoder "$ENC" --images "$IMAGES" --out "$TMP/e.safetensors" --query "$IMAGES/rgb.png" -k 3 \
  > "$TMP/run.txt" 2> "$TMP/run_err.txt" || fail "resa_embed exited $?"
grep -q "embedded 6 images (1 skipped)" "$TMP/run.txt" || fail "not 6 images embedded with 1 skipped"
grep -q "skipped corrupt.png" "$TMP/run_err.txt" || fail "the corrupt PNG is not named"
[ -s "$TMP/e.safetensors" ] || fail "no features file"
[ "$(grep -cE '^ +[0-9]+  [0-9.-]+  ' "$TMP/run.txt")" = 3 ] || fail "not 3 neighbours listed"
grep -qE '^ +[0-9]+  [0-9.-]+  rgb.png' "$TMP/run.txt" && fail "the query is its own neighbour"
[ -s "$TMP/e_query.png" ] || fail "no contact sheet"

"$BIN" --encoder "$ENC" --images "$IMAGES" --embeddings "$TMP/e.safetensors" --query "$IMAGES/sub/photo.JPG" -k 2 \
  --sheet "$TMP/sheet2.png" > "$TMP/reuse.txt" 2>&1 || fail "reusing the features exited $?"
[ "$(grep -cE '^ +[0-9]+  [0-9.-]+  ' "$TMP/reuse.txt")" = 2 ] || fail "not 2 neighbours from the reused features"
[ -s "$TMP/sheet2.png" ] || fail "no contact sheet from the reused features"

"$BIN" --encoder "$TMP/missing.safetensors" --images "$IMAGES" > "$TMP/bad1.txt" 2>&1 && fail "a missing encoder ran"
grep -q "missing.safetensors" "$TMP/bad1.txt" || fail "the missing encoder is not named"
"$BIN" --encoder "$ENC" --images "$TMP/nowhere" > "$TMP/bad2.txt" 2>&1 && fail "a missing folder ran"
grep -q -- "--images $TMP/nowhere is not a folder" "$TMP/bad2.txt" || fail "the missing folder is not named"
mkdir -p "$TMP/empty"
"$BIN" --encoder "$ENC" --images "$TMP/empty" > "$TMP/bad3.txt" 2>&1 && fail "an empty folder ran"
grep -q "no readable PNG / JPEG" "$TMP/bad3.txt" || fail "the empty folder gives no clear message"
echo "resa_embed: folder embedded, corrupt file named, neighbours and contact sheets written, errors clear"
