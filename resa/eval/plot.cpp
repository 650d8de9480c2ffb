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
            if (it->second[r] & (0x10 >> b))
              rect(cx + b * scale, y + r * scale, cx + b * scale + scale - 1, y + r * scale + scale - 1, c);
      }
      cx += 6 * scale;
    }
    return cx - x;
  }
};

// A tick value with as many decimals as its tick step needs (step 0.02 -> "0.04", step 100 -> "300").
std::string tick_label(double v, double step) {
  const double a = std::abs(v);
  if (a != 0 && (a < 1e-3 || a >= 1e6)) return fmt::format("{:.1e}", v);
  const int decimals = step > 0 ? std::clamp(static_cast<int>(-std::floor(std::log10(step) + 1e-9)), 0, 6) : 2;
  return fmt::format("{:.{}f}", v, decimals);
}

double tick_step(const std::vector<double>& t) { return t.size() >= 2 ? t[1] - t[0] : 0.0; }

void draw_panel(Canvas& cv, int ox, int oy, int pw, int ph, const Panel& p) {
  const std::array<unsigned char, 3> black{0, 0, 0}, grey{220, 220, 220};
  const int left = 90, right = 24, top = 34, bottom = 48;
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
  // Axes on round values: x from the first to the last point (from 0 for steps and epochs), y padded
  // around the data, from 0 where asked, or the fixed range.
  if (xmin > 0 && (xmax == xmin || xmin <= xmax - xmin)) xmin = 0;
  if (xmax == xmin) xmax = xmin + 1;
  if (!p.log_y && p.y_lo < p.y_hi) {
    ymin = p.y_lo, ymax = p.y_hi;
  } else {
    if (ymax == ymin) ymax = ymin + 1, ymin -= 1;
    const double pad = (ymax - ymin) * 0.05;
    ymin = (p.y_from_zero && !p.log_y && ymin >= 0) ? 0.0 : ymin - pad;
    ymax += pad;
  }
  std::vector<double> yt = nice_ticks(ymin, ymax), xt = nice_ticks(xmin, xmax);
  if (!(p.y_lo < p.y_hi)) ymin = std::min(ymin, yt.front()), ymax = std::max(ymax, yt.back());
  xmax = std::max(xmax, xt.back());
  auto px = [&](double x) { return x0 + static_cast<int>((x - xmin) / (xmax - xmin) * (x1 - x0)); };
  auto py = [&](double y) { return y1 - static_cast<int>((ty(y) - ymin) / (ymax - ymin) * (y1 - y0)); };
  for (double yv : yt) {
    if (yv < ymin - 1e-9 * (ymax - ymin) || yv > ymax + 1e-9 * (ymax - ymin)) continue;
    const int yy = y1 - static_cast<int>((yv - ymin) / (ymax - ymin) * (y1 - y0));
    if (yy != y1) cv.line(x0 + 1, yy, x1, yy, grey);
    cv.text(ox + 4, yy - 7, tick_label(p.log_y ? std::pow(10.0, yv) : yv, p.log_y ? 0.0 : tick_step(yt)), black, 2);
  }
  for (double xv : xt) {
    if (xv < xmin || xv > xmax) continue;
    const int xx = px(xv);
    cv.line(xx, y1, xx, y1 + 4, black);
    const std::string label = tick_label(xv, tick_step(xt));
    cv.text(xx - static_cast<int>(label.size()) * 6, y1 + 7, label, black, 2);
  }
  cv.text(x0 + (x1 - x0) / 2 - 30, y1 + 26, p.x_label, black, 2);
  int legend_y = y0 + 4;
  for (auto& s : p.series) {
    for (size_t i = 1; i < s.x.size() && i < s.y.size(); ++i)
      if (std::isfinite(s.y[i - 1]) && std::isfinite(s.y[i]))
        cv.line(px(s.x[i - 1]), py(s.y[i - 1]), px(s.x[i]), py(s.y[i]), s.color, 2);
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)  // evaluations are few: mark each point
      if (s.x.size() <= 20 && std::isfinite(s.y[i]))
        cv.rect(px(s.x[i]) - 2, py(s.y[i]) - 2, px(s.x[i]) + 2, py(s.y[i]) + 2, s.color);
    if (!s.label.empty()) {
      cv.rect(x1 - 170, legend_y + 4, x1 - 156, legend_y + 8, s.color);
      cv.text(x1 - 150, legend_y, s.label, black, 2);
      legend_y += 18;
    }
  }
}

void draw_scatter(Canvas& cv, int ox, int oy, int size, const ScatterPanel& p) {
  const std::array<unsigned char, 3> black{0, 0, 0};
  const int margin = 12, top = 34;
  cv.text(ox + margin, oy + 8, p.title, black, 2);
  const int x0 = ox + margin, y0 = oy + top, x1 = x0 + size - 2 * margin, y1 = y0 + size - 2 * margin;
  cv.line(x0, y0, x1, y0, black), cv.line(x1, y0, x1, y1, black);
  cv.line(x1, y1, x0, y1, black), cv.line(x0, y1, x0, y0, black);
  const size_t n = std::min({p.x.size(), p.y.size(), p.labels.size()});
  if (n == 0) {
    cv.text(x0 + 10, y0 + 10, "NO DATA", black, 2);
    return;
  }
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (size_t i = 0; i < n; ++i) {
    xmin = std::min(xmin, p.x[i]), xmax = std::max(xmax, p.x[i]);
    ymin = std::min(ymin, p.y[i]), ymax = std::max(ymax, p.y[i]);
  }
  // One scale for both axes (distances in the map mean the same in every direction), centred.
  const double span = std::max({xmax - xmin, ymax - ymin, 1e-12}) * 1.06;
  const double cx = (xmin + xmax) / 2, cy = (ymin + ymax) / 2, inner = x1 - x0 - 8;
  for (size_t i = 0; i < n; ++i) {
    const int xx = x0 + 4 + static_cast<int>(((p.x[i] - cx) / span + 0.5) * inner);
    const int yy = y1 - 4 - static_cast<int>(((p.y[i] - cy) / span + 0.5) * inner);
    cv.rect(xx - 1, yy - 1, xx + 1, yy + 1, color(static_cast<int>(p.labels[i])));
  }
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return {lo};
  const double raw = (hi - lo) / std::max(target, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  for (double v = std::floor(lo / step) * step; v <= hi + step * 1e-9; v += step)
    t.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  if (t.back() < hi - step * 1e-9) t.push_back(t.back() + step);
  return t;
}

std::vector<double> smooth(const std::vector<double>& y, int64_t window) {
  std::vector<double> out(y.size());
  double sum = 0;
  int64_t count = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    sum += y[i], ++count;
    if (count > window) sum -= y[i - static_cast<size_t>(window)], --count;
    out[i] = sum / static_cast<double>(count);
  }
  return out;
}

std::array<unsigned char, 3> color(int i) {
  static const std::array<std::array<unsigned char, 3>, 10> pal{{{31, 119, 180},
                                                                 {214, 39, 40},
                                                                 {44, 160, 44},
                                                                 {255, 127, 14},
                                                                 {148, 103, 189},
                                                                 {140, 86, 75},
                                                                 {227, 119, 194},
                                                                 {127, 127, 127},
                                                                 {188, 189, 34},
                                                                 {23, 190, 207}}};
  return pal[static_cast<size_t>(std::abs(i)) % pal.size()];
}

std::array<unsigned char, 3> tint(std::array<unsigned char, 3> c, double amount) {
  std::array<unsigned char, 3> out;
  for (int k = 0; k < 3; ++k) out[k] = static_cast<unsigned char>(c[k] + (255 - c[k]) * amount + 0.5);
  return out;
}

void write_png(const std::string& path, const std::vector<Panel>& panels, int columns, int panel_w, int panel_h,
               const std::string& title) {
  RESA_CHECK(columns >= 1 && !panels.empty(), "[plot] {}: need at least one panel and one column", path);
  int rows = (static_cast<int>(panels.size()) + columns - 1) / columns;
  int cols = std::min<int>(columns, static_cast<int>(panels.size()));
  const int head = title.empty() ? 0 : 30;
  Canvas cv(cols * panel_w, rows * panel_h + head);
  if (head) cv.text(12, 8, title, {0, 0, 0}, 2);
  for (size_t i = 0; i < panels.size(); ++i)
    draw_panel(cv, static_cast<int>(i % columns) * panel_w, head + static_cast<int>(i / columns) * panel_h, panel_w,
               panel_h, panels[i]);
  int ok = stbi_write_png(path.c_str(), cv.w, cv.h, 3, cv.px.data(), cv.w * 3);
  RESA_CHECK(ok != 0, "[plot] cannot write PNG file {}", path);
}

void write_scatter_png(const std::string& path, const std::vector<ScatterPanel>& panels, int size,
                       const std::string& title) {
  RESA_CHECK(!panels.empty() && size >= 64, "[plot] {}: need at least one panel of at least 64 pixels", path);
  int64_t classes = 0;
  for (auto& p : panels)
    for (int64_t l : p.labels) {
      RESA_CHECK(l >= 0, "[plot] {}: negative label {}", path, l);
      classes = std::max(classes, l + 1);
    }
  const std::vector<std::string>& names = panels[0].class_names;
  const int head = title.empty() ? 0 : 30, legend_rows = static_cast<int>((classes + 4) / 5);
  const int width = static_cast<int>(panels.size()) * size, height = head + size + 24 + 20 * legend_rows + 8;
  Canvas cv(width, height);
  if (head) cv.text(12, 8, title, {0, 0, 0}, 2);
  for (size_t i = 0; i < panels.size(); ++i) draw_scatter(cv, static_cast<int>(i) * size, head, size, panels[i]);
  // The legend, five classes to a row, under the panels.
  const int col_w = width / 5;
  for (int64_t c = 0; c < classes; ++c) {
    const int lx = 12 + static_cast<int>(c % 5) * col_w, ly = head + size + 24 + static_cast<int>(c / 5) * 20;
    cv.rect(lx, ly + 2, lx + 9, ly + 11, color(static_cast<int>(c)));
    const std::string name = c < static_cast<int64_t>(names.size()) ? names[static_cast<size_t>(c)] : std::to_string(c);
    cv.text(lx + 14, ly, name.substr(0, static_cast<size_t>(std::max(1, (col_w - 20) / 12))), {0, 0, 0}, 2);
  }
  int ok = stbi_write_png(path.c_str(), cv.w, cv.h, 3, cv.px.data(), cv.w * 3);
  RESA_CHECK(ok != 0, "[plot] cannot write PNG file {}", path);
}

}  // namespace resa::plot
