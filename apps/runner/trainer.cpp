#include "apps/runner/trainer.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>

#include "apps/runner/checkpoint.h"
#include "apps/runner/model_check.h"
#include "apps/runner/progress.h"
#include "apps/runner/run_config.h"
#include "apps/runner/run_dir.h"
#include "core/autograd/grad_mode.h"
#include "core/log.h"
#include "core/memory.h"
#include "core/ops/ops.h"
#include "core/threads.h"
#include "data/datasets.h"
#include "data/loader.h"
#include "data/subset.h"
#include "models/models.h"

namespace trim {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

ChannelAffine normalisation(const DataConfig& d) {
  // x in [0, 255] -> (x / 255 - mean) / std
  ChannelAffine a;
  a.channels = int(d.mean.size());
  for (int c = 0; c < a.channels; ++c) {
    a.scale[c] = 1.0f / (255.0f * d.stddev[size_t(c)]);
    a.shift[c] = -d.mean[size_t(c)] / d.stddev[size_t(c)];
  }
  return a;
}

struct Eval {
  double loss = 0.0, accuracy = 0.0;
};

Eval evaluate(Module& model, DataLoader& loader, const ChannelAffine& norm, Device device) {
  NoGradGuard no_grad;
  model.eval();
  Tensor loss_sum = Tensor::zeros(Shape{}, DType::f32, device);
  Tensor correct = Tensor::zeros(Shape{}, DType::i32, device);
  loader.start_epoch(0);
  int64_t seen = 0;
  while (auto b = loader.next()) {
    Tensor logits = model(affine_u8(b->images, norm));
    add_(loss_sum, cross_entropy(logits, b->labels), float(b->labels.numel()));
    count_correct(logits, b->labels, correct);
    seen += b->labels.numel();
  }
  model.train();
  return {loss_sum.item() / double(seen), correct.item() / double(seen)};
}

std::vector<OptimParam> optim_params(const Module& model, bool decay_bn_and_bias) {
  std::vector<OptimParam> out;
  for (const NamedParameter& p : model.named_parameters())
    out.push_back({p.name, p.tensor, p.info.kind == ParamKind::weight || decay_bn_and_bias});
  return out;
}

}  // namespace

nlohmann::json train_classifier(const Manifest& manifest, const TrainOptions& options) {
  RunConfig cfg = parse_run_config(manifest);
  set_num_threads(cfg.threads);
  Device device = resolve_device(cfg.device, manifest.source + ": /device");
  set_tf32(cfg.tf32_conv, cfg.tf32_matmul);
  set_deterministic(cfg.deterministic);
  set_benchmark(cfg.benchmark);

  Generator& gen = default_generator();
  gen.set_state(cfg.seed, 0);
  Config model_spec(cfg.model, manifest.source, "/model");
  std::shared_ptr<Module> model = build_model(model_spec);
  model_spec.finish();
  model->to(device);
  DenseSgd opt(optim_params(*model, cfg.decay_bn_and_bias), cfg.sgd);

  auto train_set = first_examples(load_dataset(cfg.data.dataset, cfg.data.root, "train"), cfg.data.train_limit);
  auto test_set = first_examples(load_dataset(cfg.data.dataset, cfg.data.root, "test"), cfg.data.test_limit);
  if (int64_t(cfg.data.mean.size()) != train_set->item_shape()[0])
    throw Error(fmt::format("{}: /data/mean: {} entries for images with {} channels", manifest.source,
                            cfg.data.mean.size(), train_set->item_shape()[0]));
  LoaderOptions lo;
  lo.batch_size = cfg.data.batch_size;
  lo.seed = cfg.seed;
  lo.workers = cfg.data.workers;
  lo.prefetch = cfg.data.prefetch;
  lo.device = device;
  DataLoader train_loader(train_set, lo);
  lo.batch_size = cfg.data.eval_batch_size;
  lo.shuffle = false;
  DataLoader test_loader(test_set, lo);
  ChannelAffine norm = normalisation(cfg.data);

  // --- hardening: every check before the run folder is touched; a refused start or resume leaves
  // it byte for byte as it was ---
  check_model_fits_data(*model, *train_set, device, cfg.data.batch_size, manifest.source);
  RunDir dir(cfg.output);  // refuses a folder that is not a run folder; writes nothing
  TrainProgress p;
  std::string manifest_text = manifest.json.dump();
  if (options.resume) {
    if (!dir.has_checkpoint()) throw Error(dir.checkpoint_path() + ": no checkpoint to resume from");
    const ResumeBounds bounds{cfg.epochs, train_loader.batches_per_epoch(), train_loader.examples_per_epoch()};
    std::string old_manifest;
    p = load_checkpoint(dir.checkpoint_path(), *model, opt, gen, &old_manifest, &bounds);
    if (old_manifest != manifest_text)
      log_warn("resuming with a manifest that differs from the one the checkpoint was written with");
    log_info(fmt::format("resuming {} at epoch {}, batch {} (step {})", dir.checkpoint_path(), p.epoch, p.batch, p.step));
  } else if (dir.has_checkpoint()) {
    throw Error(dir.path() + ": the output folder already holds a run (checkpoint.safetensors); pass --resume to "
                             "continue it, or choose another output (--set output=...)");
  }
  dir.remove_stale_temporaries();
  dir.keep_metrics_before(p.epoch);
  dir.write_manifest(manifest.json);
  // --- end of hardening block ---
  log_info(fmt::format("{}: {} parameters on {}, {} training images, {} batches per epoch", cfg.name,
                       model->num_parameters(), device.str(), train_set->size(), train_loader.batches_per_epoch()));

  Progress progress(cfg.log_interval_seconds);
  const int64_t batches = train_loader.batches_per_epoch();
  Eval last_eval;
  while (p.epoch < cfg.epochs) {
    model->train();
    train_loader.start_epoch(p.epoch, p.batch);
    // Device-side running sums, folded into p at checkpoints and at the end of the epoch only, so
    // an interrupted and resumed run adds in exactly the same order as an uninterrupted one.
    Tensor loss_acc = Tensor::zeros(Shape{}, DType::f32, device);
    Tensor correct_acc = Tensor::zeros(Shape{}, DType::i32, device);
    auto fold = [&] {
      p.loss_sum += loss_acc.item();
      p.correct += int64_t(correct_acc.item());
      loss_acc.zero_();
      correct_acc.zero_();
    };
    Clock::time_point t0 = Clock::now();
    double seconds_before = p.seconds;
    int64_t images = 0;
    float lr = opt.lr();
    while (auto b = train_loader.next()) {
      lr = cfg.schedule.lr_at(p.epoch, b->index, batches);
      opt.set_lr(lr);
      Tensor logits = (*model)(affine_u8(b->images, norm));
      Tensor loss = cross_entropy(logits, b->labels, cfg.label_smoothing);
      opt.zero_grad();
      loss.backward();
      opt.step();
      {
        NoGradGuard no_grad;
        add_(loss_acc, loss, float(b->labels.numel()));
        count_correct(logits, b->labels, correct_acc);
      }
      ++p.batch, ++p.step;
      p.seen += b->labels.numel();
      images += b->labels.numel();
      if (options.interrupt && options.interrupt(p.step)) return {};
      if (progress.due()) {
        double loss_now = (p.loss_sum + loss_acc.item()) / double(p.seen);
        double acc_now = double(p.correct + int64_t(correct_acc.item())) / double(p.seen);
        progress.show(fmt::format("epoch {}/{}  batch {}/{}  loss {:.4f}  acc {:.4f}  lr {:.4g}  {:.0f} img/s",
                                  p.epoch + 1, cfg.epochs, p.batch, batches, loss_now, acc_now, lr,
                                  double(images) / since(t0)));
      }
      if (cfg.checkpoint_every_steps > 0 && p.step % cfg.checkpoint_every_steps == 0 && p.batch < batches) {
        fold();
        p.seconds = seconds_before + since(t0);
        save_checkpoint(dir.checkpoint_path(), *model, opt, gen, p, manifest_text);
      }
    }
    fold();
    synchronize(device);
    double train_seconds = since(t0);
    progress.done();

    nlohmann::json line = {{"epoch", p.epoch},
                           {"lr", lr},
                           {"train_loss", p.loss_sum / double(p.seen)},
                           {"train_accuracy", double(p.correct) / double(p.seen)},
                           {"images_per_second", double(images) / train_seconds}};
    if ((p.epoch + 1) % cfg.eval_every == 0 || p.epoch + 1 == cfg.epochs) {
      last_eval = evaluate(*model, test_loader, norm, device);
      line["test_loss"] = last_eval.loss;
      line["test_accuracy"] = last_eval.accuracy;
    }
    p.seconds = seconds_before + since(t0);
    line["seconds"] = since(t0);
    line["elapsed_seconds"] = p.seconds;
    line["peak_memory_bytes"] = memory_stats(device).peak;
    dir.append_metrics(line);
    log_info(fmt::format("epoch {}/{}: train loss {:.4f} acc {:.4f}{}, {:.1f} s, {:.0f} img/s", p.epoch + 1, cfg.epochs,
                         line["train_loss"].get<double>(), line["train_accuracy"].get<double>(),
                         line.contains("test_accuracy") ? fmt::format(", test acc {:.4f}", last_eval.accuracy) : "",
                         line["seconds"].get<double>(), line["images_per_second"].get<double>()));

    TrainProgress next;  // the start of the next epoch
    next.epoch = p.epoch + 1;
    next.step = p.step;
    next.seconds = p.seconds;
    save_checkpoint(dir.checkpoint_path(), *model, opt, gen, next, manifest_text);
    p = next;
  }

  nlohmann::json summary = {{"name", cfg.name},
                            {"epochs", cfg.epochs},
                            {"steps", p.step},
                            {"device", device.str()},
                            {"threads", num_threads()},
                            {"seconds", p.seconds},
                            {"peak_memory_bytes", memory_stats(device).peak},
                            {"parameters", model->num_parameters()}};
  if (!dir.metrics().empty()) {  // the last epoch always evaluates
    const nlohmann::json& last = dir.metrics().back();
    for (const char* k : {"train_loss", "train_accuracy", "test_loss", "test_accuracy", "images_per_second"})
      if (last.contains(k)) summary[k] = last[k];
  }
  dir.write_summary(summary);
  return summary;
}

}  // namespace trim
