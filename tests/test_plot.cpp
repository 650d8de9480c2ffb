// Training-curve PNGs: the file decodes, has the grid's size, and the series are drawn in their colours.
#include <stb/stb_image.h>

#include "resa/eval/plot.h"
#include "test_util.h"

using namespace resa;

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
  auto count = [&](std::array<unsigned char, 3> col, int x0, int x1) {
    int n = 0;
    for (int y = 0; y < h; ++y)
      for (int x = x0; x < x1; ++x) {
        unsigned char* p = px + (static_cast<size_t>(y) * w + x) * 3;
        n += p[0] == col[0] && p[1] == col[1] && p[2] == col[2];
      }
    return n;
  };
  CHECK(count(plot::color(1), 0, 400) > 200);  // the loss curve, in the left panel only
  CHECK(count(plot::color(1), 400, 800) < 5);
  CHECK(count(plot::color(2), 400, 800) > 100);
  stbi_image_free(px);
  CHECK_THROWS_AS(plot::write_png("/nonexistent-dir/x.png", {loss}), Error);
}
