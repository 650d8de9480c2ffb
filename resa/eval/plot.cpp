#include "resa/eval/plot.h"

#include <stb/stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "resa/core/error.h"

namespace resa::plot {
namespace {

// 5x7 glyphs, one byte per row, bit 4 = leftmost pixel. Text is drawn upper-case.
const std::map<char, std::array<uint8_t, 7>>& font() {
  static const std::map<char, std::array<uint8_t, 7>> f = {
      {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}}, {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
      {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}}, {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
      {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}}, {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
      {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}}, {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
      {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}}, {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
      {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}}, {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
      {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}}, {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
      {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}}, {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
      {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}}, {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
      {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}}, {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
      {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}}, {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
      {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}}, {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
      {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
      {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}}, {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
      {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}}, {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
      {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
      {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}}, {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
      {'Y', {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}}, {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
      {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}}, {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
      {':', {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}}, {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}},
      {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}}, {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
      {'/', {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}}, {'_', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}},
      {'=', {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}}, {'+', {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00}},
      {',', {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}},
  };
  return f;
}

struct Canvas {
  int w, h;
  std::vector<unsigned char> px;  // RGB
  Canvas(int w_, int h_) : w(w_), h(h_), px(static_cast<size_t>(w_) * h_ * 3, 255) {}
  void set(int x, int y, std::array<unsigned char, 3> c) {
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    size_t i = (static_cast<size_t>(y) * w + x) * 3;
    px[i] = c[0], px[i + 1] = c[1], px[i + 2] = c[2];
  }
  void rect(int x0, int y0, int x1, int y1, std::array<unsigned char, 3> c) {
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x) set(x, y, c);
  }
  // Bresenham line, `thick` pixels wide.
  void line(int x0, int y0, int x1, int y1, std::array<unsigned char, 3> c, int thick = 1) {
    int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy;
    while (true) {
      rect(x0 - thick / 2, y0 - thick / 2, x0 + (thick - 1) / 2, y0 + (thick - 1) / 2, c);
      if (x0 == x1 && y0 == y1) break;
      int e2 = 2 * err;
      if (e2 >= dy) err += dy, x0 += sx;
      if (e2 <= dx) err += dx, y0 += sy;
    }
  }
  // Text at (x, y) top-left, `scale` pixels per font pixel; returns the width drawn.
  int text(int x, int y, const std::string& s, std::array<unsigned char, 3> c, int scale = 2) {
    int cx = x;
    for (char ch : s) {
      char u = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      auto it = font().find(u);
      if (it != font().end()) {
        for (int r = 0; r < 7; ++r)
          for (int b = 0; b < 5; ++b)
            if (it->second[r] & (0x10 >> b)) rect(cx + b * scale, y + r * scale, cx + b * scale + scale - 1, y + r * scale + scale - 1, c);
      }
      cx += 6 * scale;
    }
    return cx - x;
  }
};

std::string tick_label(double v) {
  double a = std::abs(v);
  if (a != 0 && (a < 1e-2 || a >= 1e5)) return fmt::format("{:.1e}", v);
  if (a >= 100) return fmt::format("{:.0f}", v);
  if (a >= 1) return fmt::format("{:.2f}", v);
  return fmt::format("{:.3f}", v);
}

void draw_panel(Canvas& cv, int ox, int oy, int pw, int ph, const Panel& p) {
  const std::array<unsigned char, 3> black{0, 0, 0}, grey{200, 200, 200};
  const int left = 90, right = 16, top = 34, bottom = 44;
  cv.text(ox + left, oy + 8, p.title, black, 2);
  int x0 = ox + left, x1 = ox + pw - right, y0 = oy + top, y1 = oy + ph - bottom;
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  auto ty = [&](double v) { return p.log_y ? std::log10(std::max(v, 1e-30)) : v; };
  for (auto& s : p.series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      xmin = std::min(xmin, s.x[i]), xmax = std::max(xmax, s.x[i]);
      ymin = std::min(ymin, ty(s.y[i])), ymax = std::max(ymax, ty(s.y[i]));
    }
  cv.line(x0, y1, x1, y1, black);
  cv.line(x0, y0, x0, y1, black);
  if (!std::isfinite(xmin)) {
    cv.text(x0 + 10, y0 + 10, "NO DATA", black, 2);
    return;
  }
  if (xmax == xmin) xmax = xmin + 1;
  if (ymax == ymin) ymax = ymin + 1, ymin -= 1;
  double pad = (ymax - ymin) * 0.05;
  ymin -= pad, ymax += pad;
  auto px = [&](double x) { return x0 + static_cast<int>((x - xmin) / (xmax - xmin) * (x1 - x0)); };
  auto py = [&](double y) { return y1 - static_cast<int>((ty(y) - ymin) / (ymax - ymin) * (y1 - y0)); };
  for (int t = 0; t <= 4; ++t) {
    double yv = ymin + (ymax - ymin) * t / 4.0;
    int yy = y1 - (y1 - y0) * t / 4;
    cv.line(x0 + 1, yy, x1, yy, grey);
    cv.text(ox + 4, yy - 7, tick_label(p.log_y ? std::pow(10.0, yv) : yv), black, 2);
    double xv = xmin + (xmax - xmin) * t / 4.0;
    int xx = x0 + (x1 - x0) * t / 4;
    cv.line(xx, y1, xx, y1 + 4, black);
    cv.text(xx - 12, y1 + 8, tick_label(xv), black, 1);
  }
  cv.text(x0 + (x1 - x0) / 2 - 30, y1 + 22, p.x_label, black, 2);
  int legend_y = y0 + 4;
  for (auto& s : p.series) {
    for (size_t i = 1; i < s.x.size() && i < s.y.size(); ++i)
      if (std::isfinite(s.y[i - 1]) && std::isfinite(s.y[i]))
        cv.line(px(s.x[i - 1]), py(s.y[i - 1]), px(s.x[i]), py(s.y[i]), s.color, 2);
    if (s.x.size() == 1 && std::isfinite(s.y[0])) cv.rect(px(s.x[0]) - 2, py(s.y[0]) - 2, px(s.x[0]) + 2, py(s.y[0]) + 2, s.color);
    if (!s.label.empty()) {
      cv.rect(x1 - 170, legend_y + 4, x1 - 156, legend_y + 8, s.color);
      cv.text(x1 - 150, legend_y, s.label, black, 2);
      legend_y += 18;
    }
  }
}

}  // namespace

std::array<unsigned char, 3> color(int i) {
  static const std::array<std::array<unsigned char, 3>, 6> pal{{{31, 119, 180}, {214, 39, 40}, {44, 160, 44},
                                                                {255, 127, 14}, {148, 103, 189}, {140, 86, 75}}};
  return pal[static_cast<size_t>(i) % pal.size()];
}

void write_png(const std::string& path, const std::vector<Panel>& panels, int columns, int panel_w, int panel_h) {
  RESA_CHECK(columns >= 1 && !panels.empty(), "[plot] {}: need at least one panel and one column", path);
  int rows = (static_cast<int>(panels.size()) + columns - 1) / columns;
  int cols = std::min<int>(columns, static_cast<int>(panels.size()));
  Canvas cv(cols * panel_w, rows * panel_h);
  for (size_t i = 0; i < panels.size(); ++i)
    draw_panel(cv, static_cast<int>(i % columns) * panel_w, static_cast<int>(i / columns) * panel_h, panel_w, panel_h,
               panels[i]);
  int ok = stbi_write_png(path.c_str(), cv.w, cv.h, 3, cv.px.data(), cv.w * 3);
  RESA_CHECK(ok != 0, "[plot] cannot write PNG file {}", path);
}

}  // namespace resa::plot
