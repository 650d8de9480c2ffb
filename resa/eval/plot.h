// Line charts written as PNG (stb_image_write), with a built-in 5x7 pixel font for titles, ticks and
// legends: training curves a person can look at without any plotting package.
#pragma once
#include <array>
#include <string>
#include <vector>

namespace resa::plot {

struct Series {
  std::string label;
  std::vector<double> x, y;
  std::array<unsigned char, 3> color{31, 119, 180};
};

struct Panel {
  std::string title;
  std::string x_label;
  std::vector<Series> series;
  bool log_y = false;
};

// Draws the panels in a grid with `columns` columns, each panel `panel_w` x `panel_h` pixels, and
// writes the PNG to `path`. Throws resa::Error if the file cannot be written.
void write_png(const std::string& path, const std::vector<Panel>& panels, int columns = 2, int panel_w = 560,
               int panel_h = 360);

// A palette of distinguishable colours for series i.
std::array<unsigned char, 3> color(int i);

}  // namespace resa::plot
