// Training-curve PNGs: the file decodes, has the grid's size, and the series are drawn in their colours.
#include <stb/stb_image.h>

#include "resa/eval/plot.h"
#include "test_util.h"

using namespace resa;

namespace {
// Pixels of colour `col` in columns [x0, x1) of a decoded w x h RGB image.
int count_pixels(const unsigned char* px, int w, int h, std::array<unsigned char, 3> col, int x0, int x1) {
  int n = 0;
  for (int y = 0; y < h; ++y)
    for (int x = x0; x < x1; ++x) {
      const unsigned char* p = px + (static_cast<size_t>(y) * w + x) * 3;
      n += p[0] == col[0] && p[1] == col[1] && p[2] == col[2];
    }
  return n;
}
}  // namespace

TEST_CASE("write_png draws panels that decode back with the series colour") {
  plot::Panel loss{"LOSS", "STEP", {}, false};
  plot::Series s{"TRAIN", {}, {}, plot::color(1)};
  for (int i = 0; i < 100; ++i) s.x.push_back(i), s.y.push_back(5.0 * std::exp(-i / 30.0));
  loss.series.push_back(s);
  plot::Panel acc{"KNN TOP-1 (%)", "EPOCH", {{"KNN", {1, 2, 3}, {60, 70, 75}, plot::color(2)}}, false};
  std::string path = std::string(RESA_TEST_TMP) + "/curves_test.png";
  plot::write_png(path, {loss, acc}, 2, 400, 300);
  int w = 0, h = 0, c = 0;
  unsigned char* px = stbi_load(path.c_str(), &w, &h, &c, 3);
  REQUIRE(px != nullptr);
  CHECK(w == 800);
  CHECK(h == 300);
  auto count = [&](std::array<unsigned char, 3> col, int x0, int x1) { return count_pixels(px, w, h, col, x0, x1); };
  CHECK(count(plot::color(1), 0, 400) > 200);  // the loss curve, in the left panel only
  CHECK(count(plot::color(1), 400, 800) < 5);
  CHECK(count(plot::color(2), 400, 800) > 100);
  stbi_image_free(px);
  CHECK_THROWS_AS(plot::write_png("/nonexistent-dir/x.png", {loss}), Error);
}

TEST_CASE("nice_ticks: round steps of 1, 2 or 5 times a power of ten covering the range") {
  CHECK(plot::nice_ticks(0, 1) == std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1});
  auto t = plot::nice_ticks(0, 157);
  CHECK(t == std::vector<double>{0, 50, 100, 150, 200});
  t = plot::nice_ticks(-0.0075, 0.3);
  REQUIRE(t.size() >= 2);
  CHECK(t.front() <= -0.0075);
  CHECK(t.back() >= 0.3);
  CHECK(t[1] - t[0] == doctest::Approx(0.1));
  CHECK(plot::nice_ticks(70, 71.5).front() == doctest::Approx(70));
  CHECK(plot::nice_ticks(70, 71.5)[1] - plot::nice_ticks(70, 71.5)[0] == doctest::Approx(0.5));
}

TEST_CASE("smooth: a trailing moving average") {
  CHECK(plot::smooth({1, 2, 3, 4, 5}, 2) == std::vector<double>{1, 1.5, 2.5, 3.5, 4.5});
  CHECK(plot::smooth({4, 8}, 10) == std::vector<double>{4, 6});
}

TEST_CASE("write_scatter_png draws every class in its colour, with a legend") {
  plot::ScatterPanel a{"H", {0, 1, 0, 1}, {0, 0, 1, 1}, {0, 1, 2, 2}, {"A", "B", "C"}};
  plot::ScatterPanel b{"Z", {5, 6, 7, 8}, {1, 1, 1, 1}, {2, 2, 1, 0}, {"A", "B", "C"}};
  std::string path = std::string(RESA_TEST_TMP) + "/scatter_test.png";
  plot::write_scatter_png(path, {a, b}, 200, "TITLE");
  int w = 0, h = 0, c = 0;
  unsigned char* px = stbi_load(path.c_str(), &w, &h, &c, 3);
  REQUIRE(px != nullptr);
  CHECK(w == 400);
  auto count = [&](std::array<unsigned char, 3> col, int x0, int x1) { return count_pixels(px, w, h, col, x0, x1); };
  for (int cls = 0; cls < 3; ++cls) CHECK(count(plot::color(cls), 0, 400) >= 9 + 100);  // points + legend swatch
  stbi_image_free(px);
  CHECK_THROWS_AS(plot::write_scatter_png(path, {}), Error);
}
