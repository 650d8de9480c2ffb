// Line charts and scatter plots written as PNG (stb_image_write), with a built-in 5x7 pixel font for titles, ticks and
// legends: training curves a person can look at without any plotting package.
#pragma once
#include <array>
#include <cstdint>
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
  // The y axis: from the data (padded, on round tick values), from 0 where the quantity starts there
  // (a loss, a learning rate), or a fixed range (e.g. 0-100 for an accuracy) when y_lo < y_hi.
  bool y_from_zero = false;
  double y_lo = 0, y_hi = 0;
};

// Round tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten, about `target` of them.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

// Draws the panels in a grid with `columns` columns, each panel `panel_w` x `panel_h` pixels, under an
// optional figure title, and writes the PNG to `path`. Throws resa::Error if the file cannot be written.
void write_png(const std::string& path, const std::vector<Panel>& panels, int columns = 2, int panel_w = 560,
               int panel_h = 360, const std::string& title = "");

// A scatter of labelled 2-D points (a map of features), one colour per class, with a legend.
struct ScatterPanel {
  std::string title;
  std::vector<double> x, y;
  std::vector<int64_t> labels;           // in [0, number of classes)
  std::vector<std::string> class_names;  // legend entries; "0", "1", ... when empty
};
// Panels side by side (square plotting areas of `size` pixels), under an optional figure title.
void write_scatter_png(const std::string& path, const std::vector<ScatterPanel>& panels, int size = 480,
                       const std::string& title = "");

// The moving average of y over a trailing window of `window` points (fewer at the start).
std::vector<double> smooth(const std::vector<double>& y, int64_t window);

// A palette of distinguishable colours for series i (10 before they repeat), and a lighter tint of one.
std::array<unsigned char, 3> color(int i);
std::array<unsigned char, 3> tint(std::array<unsigned char, 3> c, double amount = 0.6);

}  // namespace resa::plot
