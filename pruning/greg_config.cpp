#include "pruning/greg_config.h"

#include "pruning/pruning_method.h"

namespace trim {

namespace {

constexpr Config::Interval kRatio{0.0, 1.0};  // a layer's pruning ratio
// Bounds (documented in greg.h): around the published values (pruning/README.md#greg) by 10^3 or more, and
// such that the worst-case length of the regularization, (ceiling / granularity) x update_interval
// iterations, stays below 2^62.
constexpr Config::Interval kGranularity{1e-8, 1.0};                  // delta, delta_pick: 1e-4, 1e-5
constexpr Config::Interval kUpperLimit{0.0, 1e3, true, false};       // tau, tau': 1, 1e-2
constexpr Config::Interval kRecover{-1.0, 0.0};                      // lambda_rec: -1e-4
constexpr int64_t kMaxUpdateInterval = 1'000'000;                    // K_u: 5 or 10

}  // namespace

UnitRatios read_unit_ratios(const Config& cfg, bool filter) {
  UnitRatios c;
  c.ratio = cfg.real_in("ratio", kRatio);
  if (cfg.has("layer_ratios")) {
    cfg.accept("layer_ratios");
    const nlohmann::json& list = cfg.json()["layer_ratios"];
    if (!list.is_array()) cfg.fail("layer_ratios", "expected an array of {\"pattern\", \"ratio\"}, found " + describe_json(list));
    for (size_t i = 0; i < list.size(); ++i) {
      Config item(list[i], cfg.source(), cfg.path() + "/layer_ratios/" + std::to_string(i));
      if (!list[i].is_object()) throw Error(item.source() + ": " + item.path() + ": expected an object, found " + describe_json(list[i]));
      std::string glob = item.get<std::string>("pattern");
      if (glob.empty()) item.fail("pattern", "expected a non-empty name pattern");
      double r = item.real_in("ratio", kRatio);
      item.finish();
      c.layer_ratios.push_back({{glob, item.source() + ": " + item.path() + "/pattern"}, r});
    }
  }
  c.prune_streams = cfg.get<bool>("prune_streams", false);
  if (c.prune_streams && !filter) cfg.fail("prune_streams", "applies to filter mode only (\"mode\": \"filter\")");
  return c;
}

GregConfig read_greg_config(const Config& cfg, bool greg2) {
  GregConfig c;
  bool filter = cfg.choice("mode", {"filter", "unstructured"}, "filter") == "filter";
  c.mode = filter ? GregMode::filter : GregMode::unstructured;
  UnitRatios r = read_unit_ratios(cfg, filter);
  c.ratio = r.ratio;
  c.layer_ratios = std::move(r.layer_ratios);
  c.prune_streams = r.prune_streams;
  c.delta = cfg.real_in("reg_granularity_prune", 1e-4, kGranularity);
  c.ceiling = cfg.real_in("reg_upper_limit", 1.0, kUpperLimit);
  if (greg2) {
    c.delta_pick = cfg.real_in("reg_granularity_pick", 1e-5, kGranularity);
    c.ceiling_pick = cfg.real_in("reg_upper_limit_pick", 1e-2, kUpperLimit);
    c.recover = cfg.real_in("reg_granularity_recover", -1e-4, kRecover);
    if (!(c.ceiling_pick < c.ceiling))
      cfg.fail("reg_upper_limit_pick", cat("must be below reg_upper_limit (", c.ceiling, "), found ", c.ceiling_pick));
  }
  c.mag_limit = cfg.real_in("mag_ratio_limit", 1000.0, Config::Interval{0.0, 1e9, true, false});
  c.k_u = cfg.int_in("update_interval", 10, 1, kMaxUpdateInterval);
  c.k_s = cfg.int_in("stabilize_iterations", 10000, 0, kMaxMethodSteps);
  c.lr_prune = cfg.float_in("lr_prune", 1e-3f, Config::Interval{0.0, 1e3, true, false});  // a float lr, as optimizer.lr
  c.pretrain_epochs = cfg.int_in("pretrain_epochs", 0, 0, kMaxMethodEpochs);  // 0: no pretraining round
  refuse_pruning_init_from(cfg);
  c.where = cfg.source() + ": " + cfg.path();
  c.reg_epochs = cfg.int_in("reg_epochs", 1, kMaxMethodEpochs);
  c.where_reg_epochs = c.where + "/reg_epochs";
  c.finetune_epochs = cfg.int_in("finetune_epochs", 0, 0, kMaxMethodEpochs);  // 0: train.epochs
  c.finetune_lr = cfg.real_in("finetune_lr", 0.0, Config::Interval{0.0, 1e3});  // 0: the manifest's optimizer.lr
  return c;
}

void check_trained_start(const std::string& where, int64_t pretrain_epochs, const std::string& init_from,
                         const std::string& method) {
  if (pretrain_epochs == 0 && init_from.empty())
    throw Error(where + "/pretrain_epochs: " + method + " prunes a trained network: set pretrain_epochs > 0, or the "
                "manifest's top-level \"init_from\" (a model.safetensors)");
}

void refuse_pruning_init_from(const Config& cfg) {
  if (cfg.has("init_from"))
    cfg.fail("init_from", "has moved to the manifest's top level: write \"init_from\": \"...\" beside \"model\" "
                          "(it works for every app), not inside /pruning");
}

}  // namespace trim
