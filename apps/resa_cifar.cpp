// resa_cifar: trains ReSA (official CIFAR recipe by default) or a baseline (--method simclr | byol | swav | vicreg) on
// CIFAR-10/100, Fashion-MNIST or an image folder, on the CPU or one GPU, then evaluates the encoder (kNN and a linear
// probe).
//
//   resa_cifar --dataset cifar10 --data ./cifar-10-batches-bin --out runs/c10          (the recipe)
//   resa_cifar --dataset fashion-mnist --arch resnet_small --epochs 3 --batch-size 128  (a quick CPU run)
//
// Ctrl-C (SIGINT), SIGTERM or SIGUSR1 stops after the current step and writes a checkpoint (exit status
// 128 + the signal's number); --resume continues from it exactly. A second signal ends the run at once.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <variant>

#include "omp_env.h"
#include "progress.h"
#include "resa/autograd/functions.h"
#include "resa/core/parallel.h"
#include "resa/eval/features.h"
#include "resa/eval/knn.h"
#include "resa/eval/linear_probe.h"
#include "resa/nn/resnet.h"
#include "resa/train/trainer.h"

using namespace resa;
using namespace resa::train;

namespace {
Trainer* g_trainer = nullptr;
// The signals that stop a run cleanly: Ctrl-C, a scheduler's SIGTERM (Slurm, Kubernetes, systemd send it
// before SIGKILL), and SIGUSR1 (what Slurm's --signal sends ahead of the time limit; mpirun forwards it).
constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGUSR1};
volatile std::sig_atomic_t g_signal = 0;      // the first stop signal received (before the trainer exists too)
volatile std::sig_atomic_t g_evaluating = 0;  // training is over and checkpointed: a stop need not wait
void on_stop_signal(int sig) {
  if (g_signal == 0) g_signal = sig;
  if (g_evaluating) {
    // The final evaluation can take long (the linear probe); the last checkpoint holds everything, so
    // stop now: --resume finds the run trained and evaluates it again.
    static const char msg[] =
        "\nstopped during the final evaluation; the checkpoint is complete (--resume evaluates)\n";
    (void)!::write(STDERR_FILENO, msg, sizeof(msg) - 1);
    ::_exit(128 + sig);
  }
  if (g_trainer) g_trainer->stop(sig);
  for (int s : kStopSignals) std::signal(s, SIG_DFL);  // a second signal ends the process at once
}

// Features flattened from raw pixels (normalised), the baseline every encoder must beat.
Tensor pixel_features(const data::Dataset& ds, const EvalData& ev) {
  nn::Flatten flat;
  return extract_features(flat, ds, ev.mean, ev.std, ev.image_size, kCPU);
}

// The final evaluation's weighted kNN takes k = 200 neighbours among the evaluation's train images.
bool ev_too_small(const Trainer& t) {
  const int64_t n = t.data().eval.train->size();
  if (n >= 200) return false;
  fmt::print(stderr, "error: --eval-subset {}: the evaluation has {} train images, the weighted kNN needs >= 200\n",
             t.config().eval_subset, n);
  return true;
}
}  // namespace

int main(int argc, char** argv) {
  app::ensure_passive_openmp(argv);
  CLI::App app{
      "Train ReSA (self-assignment SSL) or a baseline and evaluate its encoder. Defaults: ReSA's official CIFAR "
      "recipe."};
  // A flag given twice takes its last value (a script's defaults, then the user's overrides).
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  TrainConfig cfg;
  bool resume = false, baselines = false;
  int64_t probe_epochs = 500;
  app.add_option("--dataset", cfg.dataset, "cifar10 | cifar100 | fashion-mnist | mnist | folder")
      ->capture_default_str();
  app.add_option("--data", cfg.data,
                 "dataset folder (CIFAR binary batches; MNIST-style IDX files, default for fashion-mnist: "
                 "/usr/share/datasets/fashion-mnist; folder: DIR/train and DIR/test with one subfolder per class)");
  app.add_option("--train-subset", cfg.train_subset, "train on a seeded random subset of N images (0: all)")
      ->capture_default_str();
  app.add_option("--eval-subset", cfg.eval_subset, "evaluate on the first N train and N test images (0: all)")
      ->capture_default_str();
  app.add_option("--arch", cfg.arch,
                 "encoder: resnet18 | resnet34 | resnet50 | resnet_small (one block per stage, width 32)")
      ->capture_default_str();
  app.add_option("--width", cfg.width, "encoder base width (0: the architecture's, 64; 32 for resnet_small)")
      ->capture_default_str();
  app.add_option("--mlp", cfg.mlp, "projector sizes: hidden-...-embedding (Linear-BN-ReLU blocks, then Linear-BN)")
      ->capture_default_str();
  app.add_option("--zero-init-residual", cfg.zero_init_residual,
                 "zero the last BN weight of every residual branch: on | off | auto (the official rule: off for "
                 "resnet18 and resnet_small, on for resnet34/50)")
      ->check(CLI::IsMember({"on", "off", "auto"}))
      ->capture_default_str();
  app.add_option("--stem-padding", cfg.stem_padding,
                 "padding of the CIFAR stem's 3x3 conv: 2 = the official code (it zero-pads the input by 1 before "
                 "the padded conv, so 32x32 images give 34x34 maps), 1 = same-size maps")
      ->check(CLI::Range(0, 2))
      ->capture_default_str();
  // The method settings come from one table (resa/train/config.cpp): each flag, its help, and its
  // default read from the options struct that holds it.
  for (const auto& s : method_settings())
    std::visit(
        [&](const auto& now) {
          using T = std::decay_t<decltype(now)>;
          CLI::Option* o = app.add_option_function<T>(
              s.flag, [&cfg, &s](const T& v) { s.set(cfg, v); }, s.help);
          o->default_str(setting_text(now));
          if (!s.choices.empty()) o->check(CLI::IsMember(s.choices));
        },
        s.get(cfg));
  const TrainConfig& d = cfg;  // still the defaults: nothing is parsed yet
  app.footer(fmt::format(
      "Methods and their CIFAR hyper-parameters (the defaults; --mlp, --lr, --wd, --optimizer apply to all):\n"
      "  resa    self-assignment: Sinkhorn(eps {}, {} iters) of the encodings as the soft target of the embedding\n"
      "          similarities, tau {}, EMA teacher {} -> 1 (official CIFAR recipe, see docs).\n"
      "  simclr  NT-Xent over the 2B l2-normalised embeddings, temperature {} (the usual CIFAR value; SimCLR's\n"
      "          CIFAR appendix sweeps 0.1-1.0); no teacher.\n"
      "  byol    predictor Linear(e, {})-BN-ReLU-Linear({}, e) on the projector; target = EMA of encoder +\n"
      "          projector, momentum {} -> 1 on a cosine (the common CIFAR base; the paper's ImageNet base\n"
      "          is 0.996); loss 2 - 2 cos(q, z') summed over both directions; evaluates the online encoder.\n"
      "  swav    K = {} prototypes (l2-normalised each step), codes by Sinkhorn(eps {}, {} iters) as in SwAV's\n"
      "          code, swapped-prediction cross-entropy at temperature {}, prototypes frozen for the first {}\n"
      "          steps (SwAV's freeze_prototypes_niters); no feature queue.\n"
      "  vicreg  {} x invariance (MSE) + {} x variance (hinge of sqrt(var + 1e-4) at 1, per view) + {} x covariance\n"
      "          (squared off-diagonal covariances / d, per view); the paper's equation. The paper trains with\n"
      "          LARS: prefer --optimizer lars (plain SGD at a high rate can blow the covariance term up).\n"
      "  The baselines' projector ends with its Linear (no final BatchNorm1d, as in their papers); ReSA's keeps it.",
      d.resa.loss_.eps_, d.resa.loss_.iters_, d.resa.loss_.tau_, d.resa.ema_base_, d.simclr.temperature_,
      d.byol.pred_hidden_, d.byol.pred_hidden_, d.byol.ema_base_, d.swav.prototypes_, d.swav.eps_, d.swav.iters_,
      d.swav.temperature_, d.swav.freeze_iters_, d.vicreg.sim_, d.vicreg.var_, d.vicreg.cov_));
  app.add_option("--epochs", cfg.epochs, "training epochs")->capture_default_str();
  app.add_option("--batch-size", cfg.batch_size, "images per step (each seen in two views)")->capture_default_str();
  app.add_option("--lr", cfg.lr, "base learning rate (0: 0.3 x batch / 256); warm-up then cosine to 0.1 x base")
      ->capture_default_str();
  app.add_option("--warmup-epochs", cfg.warmup_epochs, "linear warm-up epochs")->capture_default_str();
  app.add_option("--wd", cfg.weight_decay, "weight decay")->capture_default_str();
  app.add_option("--optimizer", cfg.optimizer, "sgd (momentum 0.9) | lars")->capture_default_str();
  app.add_option("--device", cfg.device, "cpu | cuda | cuda:N")->capture_default_str();
  app.add_option("--threads", cfg.threads, "CPU threads for the kernels (0: all cores)")->capture_default_str();
  app.add_option("--workers", cfg.workers, "data loader threads")->capture_default_str();
  app.add_option("--seed", cfg.seed, "seed of the weights, the shuffles and the augmentations")->capture_default_str();
  app.add_option("--eval-every", cfg.eval_every, "epochs between kNN evaluations (0: at the end only)")
      ->capture_default_str();
  app.add_option("--max-steps", cfg.max_steps, "stop after this many steps in total (0: no limit)")
      ->capture_default_str();
  app.add_option("--out", cfg.out, "output folder: checkpoint, encoder.safetensors, log.jsonl, curves.png")
      ->capture_default_str();
  app.add_flag("--keep-checkpoints", cfg.keep_epoch_checkpoints,
               "also keep OUT/epoch_NNN.safetensors after each epoch (for resa_cluster --checkpoints)");
  app.add_option("--checkpoint-every-minutes", cfg.checkpoint_every_minutes,
                 "also write OUT/checkpoint.safetensors every M minutes within an epoch (fractions allowed; 0: "
                 "only after each epoch and when stopped)")
      ->capture_default_str();
  app.add_flag("--resume", resume,
               "continue from OUT/checkpoint.safetensors if it exists (else start fresh: safe to pass on every "
               "(re)start of a scheduled job)");
  app.add_flag("--overwrite", cfg.overwrite,
               "a fresh run into a folder that holds another run's checkpoint or weights deletes that run's files "
               "(without it the run refuses and names them)");
  app.add_option("--probe-epochs", probe_epochs, "linear-probe epochs after training (0: skip the probe)")
      ->capture_default_str();
  app.add_flag("--baselines", baselines, "also report kNN on raw pixels and on a randomly initialised encoder");
  app.footer(app.get_footer() +
             "\n\nStopping: SIGINT (Ctrl-C), SIGTERM or SIGUSR1 finish the current step, write the checkpoint and "
             "exit with 128 + the signal (130, 143, 138);\na second signal ends the run at once. --resume continues "
             "bit-exactly (on the CPU). Under mpirun send SIGUSR1 to mpirun (it forwards it to every rank).");
  CLI11_PARSE(app, argc, argv);
  try {
    validate(cfg);  // every flag, before any data is read
    RESA_CHECK(probe_epochs >= 0, "--probe-epochs {}: must be >= 0 (0: skip the probe)", probe_epochs);
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\nRun with --help for more information.\n", e.what());
    return 2;
  }
  // A file size limit (ulimit -f) makes a write fail with EFBIG, reported like a full disk, instead of
  // killing the process without a word.
  std::signal(SIGXFSZ, SIG_IGN);
  for (int s : kStopSignals) std::signal(s, on_stop_signal);
  // The status of a run stopped by a signal: what a shell reports for a process the signal killed.
  auto stopped_status = [](int sig) { return 128 + (sig > 0 ? sig : SIGINT); };

  try {
    Trainer trainer(cfg, resume);
    g_trainer = &trainer;
    if (g_signal != 0) trainer.stop(g_signal);  // arrived while the data loaded: stop after the first step
    const TrainConfig& c = trainer.config();
    const bool root = trainer.is_root();  // under mpirun, rank 0 alone prints and evaluates
    if (ev_too_small(trainer)) return 2;
    if (root)
      fmt::print(
          "{} | {} {} on {} | {} train images, {} steps/epoch x {} epochs | batch {} lr {:.4f} | "
          "zero-init residual {}, stem padding {} | {} threads | out {}\n",
          trainer.method().name(), c.arch, c.mlp, c.device, trainer.data().train->size(), trainer.steps_per_epoch(),
          c.epochs, c.batch_size, c.base_lr(), c.zero_init_residual_on() ? "on" : "off", c.stem_padding,
          get_num_threads(), c.out);
    int64_t total = trainer.steps_per_epoch() * c.epochs;
    if (c.max_steps > 0) total = std::min(total, c.max_steps);
    app::Progress progress(total);
    progress.set_batch(c.batch_size);
    Callbacks cb;
    cb.on_step = [&](const StepStats& s) { progress.update(s.step, s.epoch + 1, s.loss, s.lr, s.images_per_s); };
    cb.on_eval = [&](const EvalStats& e) {
      if (trainer.method().evaluates_teacher())
        progress.message(fmt::format("epoch {}: kNN (k=5) top-1 teacher {:.2f}%, online {:.2f}%", e.epoch,
                                     100 * e.knn.teacher, 100 * e.knn.online));
      else
        progress.message(fmt::format("epoch {}: kNN (k=5) top-1 {:.2f}%", e.epoch, 100 * e.knn.teacher));
    };
    cb.on_message = [&](const std::string& m) { progress.message(m); };
    const int64_t first_step = trainer.step();
    const auto t_start = std::chrono::steady_clock::now();
    bool finished = trainer.run(cb);
    const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    g_trainer = nullptr;
    if (!finished) {
      const int sig = trainer.stop_signal() > 0 ? trainer.stop_signal() : static_cast<int>(g_signal);
      if (root) fmt::print("stopped before the end; run again with --resume to continue\n");
      return stopped_status(sig);
    }
    // The ranks hold the same weights: the final evaluation is rank 0's alone.
    if (!root) return 0;
    g_evaluating = 1;
    if (g_signal != 0) {  // arrived after the last step's vote: the run is trained and saved
      fmt::print("stopped before the final evaluation; the checkpoint is complete (--resume evaluates)\n");
      return stopped_status(g_signal);
    }

    // Final evaluation on un-augmented images: the evaluated encoder (ReSA's EMA teacher, the official
    // protocol) first, then the online encoder where it is another network.
    const EvalData& ev = trainer.data().eval;
    Device dev = Device::parse(c.device);
    fmt::print("extracting features of {} train and {} test images...\n", ev.train->size(), ev.test->size());
    Tensor ytr = dataset_labels(*ev.train), yte = dataset_labels(*ev.test);
    std::vector<std::pair<std::string, nn::ModulePtr>> encoders{{"", trainer.method().eval_encoder()}};
    if (trainer.method().evaluates_teacher()) {
      encoders[0].first = "_teacher";
      encoders.emplace_back("_online", trainer.method().online_encoder());
    }
    nlohmann::json final_record{{"type", "final"},
                                {"step", trainer.step()},
                                {"train_seconds", train_seconds},  // this invocation's loop, with its kNN evaluations
                                {"images_per_s", static_cast<double>((trainer.step() - first_step) * c.batch_size) /
                                                     std::max(train_seconds, 1e-9)}};
    std::vector<std::string> rows;
    for (auto& [suffix, enc] : encoders) {
      Tensor ftr = extract_features(*enc, *ev.train, ev.mean, ev.std, ev.image_size, dev);
      Tensor fte = extract_features(*enc, *ev.test, ev.mean, ev.std, ev.image_size, dev);
      double knn = knn_classify(ftr, ytr, fte, yte).top1;
      double wknn = weighted_knn_classify(ftr, ytr, fte, yte).top1;
      // log keys: knn_top1 (teacher / evaluated), knn_online_top1, ...
      const std::string key = suffix == "_online" ? "_online" : "";
      final_record["knn" + key + "_top1"] = knn;
      final_record["wknn" + key + "_top1"] = wknn;
      std::string probe1 = "-", probe5 = "-";
      if (probe_epochs > 0) {
        auto pr = linear_probe(ftr, ytr, fte, yte, LinearProbeOptions().epochs(probe_epochs).seed(c.seed));
        probe1 = fmt::format("{:.2f}%", 100 * pr.top1);
        probe5 = fmt::format("{:.2f}%", 100 * pr.top5);
        final_record["probe" + key + "_top1"] = pr.top1;
        final_record["probe" + key + "_top5"] = pr.top5;
      }
      std::string who = suffix.empty() ? "" : suffix == "_teacher" ? " teacher (EMA)" : " online";
      rows.push_back(fmt::format("| {}{} {} ({} epochs) | {:.2f}% | {:.2f}% | {} | {} |", trainer.method().name(), who,
                                 c.arch, c.epochs, 100 * knn, 100 * wknn, probe1, probe5));
    }
    trainer.log_json(final_record.dump());
    fmt::print("\n| encoder | kNN k=5 top-1 | weighted kNN k=200 top-1 | linear probe top-1 | top-5 |\n");
    fmt::print("|---|---|---|---|---|\n");
    for (auto& r : rows) fmt::print("{}\n", r);
    if (baselines) {
      Tensor ptr = pixel_features(*ev.train, ev), pte = pixel_features(*ev.test, ev);
      fmt::print("| raw pixels | {:.2f}% | {:.2f}% | - | - |\n", 100 * knn_classify(ptr, ytr, pte, yte).top1,
                 100 * weighted_knn_classify(ptr, ytr, pte, yte).top1);
      auto random = build_method(c, trainer.data().channels);
      auto& renc = *random->eval_encoder();
      Tensor rtr = extract_features(renc, *ev.train, ev.mean, ev.std, ev.image_size, dev);
      Tensor rte = extract_features(renc, *ev.test, ev.mean, ev.std, ev.image_size, dev);
      fmt::print("| random {} (same seed, untrained) | {:.2f}% | {:.2f}% | - | - |\n", c.arch,
                 100 * knn_classify(rtr, ytr, rte, yte).top1, 100 * weighted_knn_classify(rtr, ytr, rte, yte).top1);
    }
    fmt::print("\nencoder weights (torchvision names): {}/encoder.safetensors; curves: {}/curves.png\n", c.out, c.out);
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    // Under mpirun the other ranks may be waiting for this one (a barrier after a failed checkpoint):
    // exit without finalising MPI, which would wait for them too; mpirun then ends the job.
    if (const char* world = std::getenv("OMPI_COMM_WORLD_SIZE"); world && std::atoi(world) > 1) {
      std::fflush(stdout);
      std::_Exit(1);
    }
    return 1;
  }
  return 0;
}
