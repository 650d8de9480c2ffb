#include "resa/eval/analysis.h"

#include <filesystem>
#include <fstream>
#include <set>

#include "resa/autograd/functions.h"
#include "resa/eval/features.h"
#include "resa/eval/plot.h"

namespace resa {
namespace fs = std::filesystem;

namespace {
// Encoder then projector as one module whose output is [H, P0, ..., Z] along dim 1, so that
// extract_features (its batching and un-augmented preprocessing) serves every component.
class Components : public nn::Cloneable<Components> {
 public:
  Components(nn::ModulePtr encoder, std::shared_ptr<nn::Projector> projector) : Cloneable("Components") {
    register_module("encoder", std::move(encoder));
    projector_ = register_module("projector", std::move(projector));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = child("encoder")->forward(x);
    std::vector<Tensor> hidden;
    Tensor z = projector_->forward_with_hidden(h, &hidden);
    dims_ = {h.size(1)};
    std::vector<Tensor> parts{h};
    for (auto& p : hidden) {
      dims_.push_back(p.size(1));
      parts.push_back(p);
    }
    dims_.push_back(z.size(1));
    parts.push_back(z);
    return cat(parts, 1);
  }
  const std::vector<int64_t>& dims() const { return dims_; }

 private:
  std::shared_ptr<nn::Projector> projector_;
  std::vector<int64_t> dims_;
};

// A non-owning shared_ptr: Components must not keep the caller's modules alive or free them.
template <typename M>
std::shared_ptr<M> borrow(M& m) {
  return std::shared_ptr<M>(&m, [](M*) {});
}

int64_t count_classes(const Tensor& labels) {
  auto v = labels.to_vector<int64_t>();
  return static_cast<int64_t>(std::set<int64_t>(v.begin(), v.end()).size());
}
}  // namespace

std::vector<Component> extract_components(nn::Module& encoder, nn::Projector& projector, const data::Dataset& ds,
                                          const std::vector<float>& mean, const std::vector<float>& std,
                                          int64_t image_size, Device device, int64_t batch) {
  RESA_CHECK(ds.size() > 0, "[analysis] the dataset is empty");
  const bool enc_training = encoder.is_training(), proj_training = projector.is_training();
  Components comps(borrow(encoder), borrow(projector));
  comps.eval();  // extract_features restores this mode, so the modules stay in eval until we restore theirs
  Tensor all = extract_features(comps, ds, mean, std, image_size, device, batch);
  encoder.train(enc_training);
  projector.train(proj_training);

  std::vector<Component> out;
  const auto& dims = comps.dims();
  int64_t off = 0;
  for (size_t i = 0; i < dims.size(); ++i) {
    std::string name = i == 0 ? "H" : i + 1 == dims.size() ? "Z" : fmt::format("P{}", i - 1);
    out.push_back({name, all.narrow(1, off, dims[i]).contiguous()});
    off += dims[i];
  }
  RESA_CHECK(off == all.size(1), "[analysis] component widths add up to {}, features have {}", off, all.size(1));
  return out;
}

ComponentScores score_component(const Component& c, const Tensor& labels, const ClusterAnalysisOptions& opts) {
  RESA_CHECK(c.features.dim() == 2 && labels.dim() == 1 && c.features.size(0) == labels.size(0),
             "[analysis] component {}: features {} and labels {} must be (n, d) and (n)", c.name,
             shape_str(c.features.shape()), shape_str(labels.shape()));
  ComponentScores s;
  s.name = c.name;
  s.dim = c.features.size(1);
  auto sil = silhouette(c.features, labels, opts.metric_, opts.block_rows_);
  s.sc_mean = sil.mean;
  s.sc_std = sil.std;
  auto km = kmeans(c.features, KMeansOptions()
                                   .k(count_classes(labels))
                                   .n_init(opts.n_init_)
                                   .max_iter(opts.max_iter_)
                                   .seed(opts.seed_)
                                   .block_rows(opts.block_rows_));
  s.ari = adjusted_rand_index(km.labels, labels);
  s.kmeans_iter = km.n_iter;
  return s;
}

std::vector<ComponentScores> score_components(const std::vector<Component>& comps, const Tensor& labels,
                                              const ClusterAnalysisOptions& opts) {
  std::vector<ComponentScores> out;
  for (const auto& c : comps) out.push_back(score_component(c, labels, opts));
  return out;
}

// ---------------------------------------------------------------- runs and checkpoints
CheckpointAnalysis analyse_method(Method& method, const AnalysisData& data, Device device,
                                  const ClusterAnalysisOptions& opts, int64_t batch) {
  auto proj = std::dynamic_pointer_cast<nn::Projector>(method.eval_projector());
  RESA_CHECK(proj != nullptr, "[analysis] the projector of method {} is not an nn::Projector", method.name());
  CheckpointAnalysis a;
  a.method = method.name();
  auto comps = extract_components(*method.eval_encoder(), *proj, *data.images, data.mean, data.std, data.image_size,
                                  device, batch);
  a.scores = score_components(comps, data.labels, opts);
  return a;
}

// ---------------------------------------------------------------- reports
nlohmann::json analysis_to_json(const std::vector<CheckpointAnalysis>& runs, const nlohmann::json& meta) {
  nlohmann::json j = meta.is_object() ? meta : nlohmann::json::object();
  j["checkpoints"] = nlohmann::json::array();
  for (const auto& r : runs) {
    nlohmann::json cj{{"checkpoint", r.label}, {"method", r.method}, {"step", r.step}, {"epoch", r.epoch}};
    cj["components"] = nlohmann::json::array();
    for (const auto& s : r.scores)
      cj["components"].push_back({{"name", s.name},
                                  {"dim", s.dim},
                                  {"sc_mean", s.sc_mean},
                                  {"sc_std", s.sc_std},
                                  {"ari", s.ari},
                                  {"kmeans_iter", s.kmeans_iter}});
    j["checkpoints"].push_back(cj);
  }
  return j;
}

std::string analysis_to_markdown(const std::vector<CheckpointAnalysis>& runs) {
  std::string out;
  for (const auto& r : runs) {
    out += fmt::format("{} ({}, step {}, epoch {:.2f})\n\n", r.label, r.method, r.step, r.epoch);
    out += "| component | dim | SC_mean | SC_std | ARI |\n|---|---|---|---|---|\n";
    for (const auto& s : r.scores)
      out += fmt::format("| {} | {} | {:.4f} | {:.4f} | {:.4f} |\n", s.name, s.dim, s.sc_mean, s.sc_std, s.ari);
    out += "\n";
  }
  return out;
}

namespace {
// The PNG: one panel per metric. Several checkpoints: a line per component over epochs. One
// checkpoint: an outlined bar per component at x = its index (0 = H, ..., last = Z), drawn with the
// line-chart plotter (a closed rectangle is a polyline), with the names in the legend.
void write_analysis_png(const std::string& path, const std::vector<CheckpointAnalysis>& runs) {
  if (runs.empty()) return;
  struct Metric {
    const char* title;
    double ComponentScores::*field;
  };
  const Metric metrics[] = {{"SILHOUETTE MEAN", &ComponentScores::sc_mean},
                            {"SILHOUETTE STD", &ComponentScores::sc_std},
                            {"K-MEANS ARI", &ComponentScores::ari}};
  std::vector<plot::Panel> panels;
  const auto& names = runs.front().scores;
  for (const auto& m : metrics) {
    plot::Panel p;
    p.title = m.title;
    if (runs.size() > 1) {
      p.x_label = "EPOCH";
      for (size_t c = 0; c < names.size(); ++c) {
        plot::Series s{names[c].name, {}, {}, plot::color(static_cast<int>(c))};
        for (const auto& r : runs) {
          if (c >= r.scores.size()) continue;
          s.x.push_back(r.epoch);
          s.y.push_back(r.scores[c].*m.field);
        }
        p.series.push_back(s);
      }
    } else {
      p.x_label = "COMPONENT";
      for (size_t c = 0; c < names.size(); ++c) {
        const double x = static_cast<double>(c), v = names[c].*m.field, w = 0.35;
        p.series.push_back(
            {names[c].name, {x - w, x - w, x + w, x + w, x - w}, {0, v, v, 0, 0}, plot::color(static_cast<int>(c))});
      }
    }
    panels.push_back(p);
  }
  plot::write_png(path, panels, 3, 480, 340);
}
}  // namespace

void write_analysis(const std::string& dir, const std::vector<CheckpointAnalysis>& runs, const nlohmann::json& meta) {
  fs::create_directories(dir);
  {
    std::ofstream f(dir + "/clustering.json");
    RESA_CHECK(f.good(), "[analysis] cannot write {}/clustering.json", dir);
    f << analysis_to_json(runs, meta).dump(2) << "\n";
    f.close();  // flushes: a full disk shows here
    RESA_CHECK(!f.fail(), "[analysis] cannot write {}/clustering.json (disk full?)", dir);
  }
  {
    std::ofstream f(dir + "/clustering.md");
    RESA_CHECK(f.good(), "[analysis] cannot write {}/clustering.md", dir);
    f << analysis_to_markdown(runs);
    f.close();
    RESA_CHECK(!f.fail(), "[analysis] cannot write {}/clustering.md (disk full?)", dir);
  }
  write_analysis_png(dir + "/clustering.png", runs);
}

}  // namespace resa
