// The bf16 precision policy (core/ops/precision.h): the CPU's bf16 kernels against f32 on
// bf16-rounded operands, closed-form proofs that the products really round their operands, the
// op table's bf16 rows, the step's bf16 forward copies (LATS's S_d(theta) included) and their
// refresh after writes outside the step, the manifest key, and training / resuming under bf16.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>

#include "apps/runner/run_config.h"
#include "apps/runner/trainer.h"
#include "core/bf16.h"
#include "core/config.h"
#include "core/io/safetensors.h"
#include "core/cpu/bf16_support.h"
#include "core/cpu/conv_impl.h"
#include "core/kernels/kernels.h"
#include "core/ops/ops.h"
#include "core/ops/precision.h"
#include "core/optim/sgd.h"
#include "core/random/philox.h"
#include "pruning/lats_rule.h"
#include "pruning/registry.h"
#include "test/support/compare.h"
#include "test/support/conv_backend_guard.h"
#include "test/support/fixtures.h"
#include "test/support/gradcheck.h"
#include "test/support/runs.h"

using namespace trim;
using test::as_manifest;
using test::compare;
using test::small_run;

namespace {

// A product of bf16 values is exact in f32; the sums differ from f32's only in their order.
constexpr test::Tolerance kBf16Exact{1e-5, 1e-5};
// Results whose output gradient was rounded to bf16 (8 significant bits) inside backward.
constexpr test::Tolerance kBf16{1e-2, 2e-2};

float round_bf16(float x) { return bf16_to_float(float_to_bf16(x)); }

std::vector<float> normal_values(int64_t n, uint64_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = philox::normal(seed, 0, i);
  return v;
}

std::vector<bf16> to_bf16(const std::vector<float>& v) {
  std::vector<bf16> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = float_to_bf16(v[i]);
  return out;
}

std::vector<float> rounded(const std::vector<float>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = round_bf16(v[i]);
  return out;
}

Tensor bf16_tensor(const Shape& s, const std::vector<float>& v) { return Tensor::from_vector(s, to_bf16(v)); }

}  // namespace

TEST_CASE("gemm_bf16 equals f32 gemm on the rounded operands, for every transpose, alpha and beta",
          "[precision][gemm]") {
  INFO("oneDNN ISA " << cpu::onednn_isa_name() << ", native bf16 " << cpu::bf16_native());
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (float beta : {0.0f, 1.0f}) {
        const int64_t m = 37, n = 29, k = 70;
        std::vector<float> a = rounded(normal_values(m * k, 1)), b = rounded(normal_values(k * n, 2));
        std::vector<float> c0 = normal_values(m * n, 3), want = c0, got = c0;
        cpu::gemm(ta, tb, m, n, k, 0.5f, a.data(), b.data(), beta, want.data());
        std::vector<bf16> a16 = to_bf16(a), b16 = to_bf16(b);
        cpu::gemm_bf16(ta, tb, m, n, k, 0.5f, a16.data(), b16.data(), beta, got.data());
        INFO("ta " << ta << " tb " << tb << " beta " << beta);
        CHECK(compare(got, want, kBf16Exact) == "");
      }
}

TEST_CASE("bf16 products round their f32 operands: closed form", "[precision][gemm][conv]") {
  // 1 + 2^-10 is not a bf16 value: it rounds to 1, so each product below is exactly 1, not 1 + 2^-10.
  const float x = 1.0f + 1.0f / 1024.0f;
  REQUIRE(round_bf16(x) == 1.0f);
  {  // linear: [2, 16] x [3, 16]^T of ones (weight) -> every output is 16 exactly under bf16
    Tensor in = Tensor::full(Shape{2, 16}, x), w = Tensor::full(Shape{3, 16}, 1.0f);
    CHECK(linear(in, w).to_vector<float>() != std::vector<float>(6, 16.0f));
    PrecisionScope bf16(Precision::bf16);
    CHECK(linear(in, w).to_vector<float>() == std::vector<float>(6, 16.0f));
  }
  for (cpu::ConvBackend backend : test::conv_backends()) {
    test::ConvBackendGuard guard(backend);
    INFO(cpu::conv_backend_name(backend));
    // conv: 3x3, 16 input channels, no padding -> every output sums 144 products of x and 1.
    Tensor in = Tensor::full(Shape{1, 16, 5, 5}, x), w = Tensor::full(Shape{2, 16, 3, 3}, 1.0f);
    Conv2dParams p{1, 1, 0, 0, 1, 1, 1};
    CHECK(conv2d(in, w, Tensor(), p).to_vector<float>() != std::vector<float>(18, 144.0f));
    PrecisionScope bf16(Precision::bf16);
    CHECK(conv2d(in, w, Tensor(), p).to_vector<float>() == std::vector<float>(18, 144.0f));
    // Fewer than kBf16MinChannels input channels per group (a stem; depthwise) stay f32: the
    // products keep x's 1 + 2^-10.
    static_assert(kBf16MinChannels == 16);
    Tensor stem = Tensor::full(Shape{2, 15, 3, 3}, 1.0f), in15 = Tensor::full(Shape{1, 15, 5, 5}, x);
    CHECK(conv2d(in15, stem, Tensor(), p).to_vector<float>() != std::vector<float>(18, 135.0f));
    Tensor wd = Tensor::full(Shape{16, 1, 3, 3}, 1.0f);
    for (float v : conv2d(in, wd, Tensor(), Conv2dParams{1, 1, 0, 0, 1, 1, 16}).to_vector<float>())
      CHECK(v == Approx(9.0 * x).epsilon(1e-6));
  }
}

TEST_CASE("bf16 convolution kernels equal f32 ones on the rounded inputs, on every backend", "[precision][conv]") {
  // oneDNN's native bf16 passes at batch 64, stride 1 and batch 3, stride 2; batch 5 on a 3x3 plane
  // the batched matrix product (conv_batched.cpp) on an AMX CPU, with enough channels that its
  // column and gradient copies run on every thread. (Emulation: the bf16_emulated case below.)
  const int64_t n = GENERATE(3, 64, 5);
  const int s = n == 3 ? 2 : 1;
  const int64_t h = n == 5 ? 3 : 9, wd = n == 5 ? 3 : 7, c = n == 5 ? 64 : 8, o = n == 5 ? 384 : 12;
  const Shape xs{n, c, h, wd}, ws{o, c, 3, 3}, ys{n, o, s == 1 ? h : 5, s == 1 ? wd : 4};
  const Conv2dParams p{s, s, 1, 1, 1, 1, 1};
  std::vector<float> x = normal_values(xs.numel(), 4), w = normal_values(ws.numel(), 5), gy = normal_values(ys.numel(), 6);
  Tensor x32 = Tensor::from_vector(xs, x), xr = Tensor::from_vector(xs, rounded(x)), x16 = bf16_tensor(xs, x);
  Tensor wr = Tensor::from_vector(ws, rounded(w)), w16 = bf16_tensor(ws, w);
  Tensor gy32 = Tensor::from_vector(ys, gy), gyr = Tensor::from_vector(ys, rounded(gy)), gy16 = bf16_tensor(ys, gy);
  CHECK(cpu::batched_bf16_conv_serves(x32, gy16, ys, p) == (n == 5 && cpu::bf16_amx()));
  for (cpu::ConvBackend backend : test::conv_backends()) {
    test::ConvBackendGuard guard(backend);
    INFO(cpu::conv_backend_name(backend));
    Tensor want = Tensor::empty(ys), got = Tensor::empty(ys);
    cpu::conv2d_forward(xr, wr, Tensor(), want, p);
    for (const Tensor* xin : {&x32, &x16}) {  // an f32 input is rounded on the way in
      cpu::conv2d_forward(*xin, w16, Tensor(), got, p);
      CHECK(compare(got.to_vector<float>(), want.to_vector<float>(), kBf16Exact) == "");
    }
    Tensor gx_want = Tensor::empty(xs), gx = Tensor::empty(xs);
    cpu::conv2d_backward_data(gyr, wr, gx_want, p);
    cpu::conv2d_backward_data(gy16, w16, gx, p);
    CHECK(compare(gx.to_vector<float>(), gx_want.to_vector<float>(), kBf16Exact) == "");
    cpu::conv2d_backward_data(gy32, w16, gx, p);
    CHECK(compare(gx.to_vector<float>(), gx_want.to_vector<float>(), kBf16Exact) == "");
    Tensor gw_want = Tensor::empty(ws), gw = Tensor::full(ws, 1.0f);
    cpu::conv2d_backward_filter(xr, gyr, gw_want, p, 0.0f);
    cpu::conv2d_backward_filter(x32, gy16, gw, p, 1.0f);  // beta 1: adds to the ones
    std::vector<float> plus_one = gw_want.to_vector<float>();
    for (float& v : plus_one) v += 1.0f;
    CHECK(compare(gw.to_vector<float>(), plus_one, kBf16Exact) == "");
    cpu::conv2d_backward_filter(x16, gy16, gw, p, 0.0f);  // a bf16 input; beta 0 overwrites
    CHECK(compare(gw.to_vector<float>(), gw_want.to_vector<float>(), kBf16Exact) == "");
  }
}

TEST_CASE("the op table's bf16 rows match their f32 reference", "[precision][ops]") {
  int rows = 0;
  for (const test::OpCase& c : test::op_cases()) {
    if (!c.reference) continue;
    ++rows;
    SECTION(c.name) {
      std::vector<Tensor> inputs = test::make_inputs(c, 11);
      test::OpCase ref = c;
      ref.run = c.reference;
      test::CaseResult got = test::run_case(c, inputs, Device::cpu());
      test::CaseResult want = test::run_case(ref, inputs, Device::cpu());
      CHECK(compare(got.output, want.output, kBf16Exact) == "");
      // A convolution with fewer than kBf16MinChannels input channels per group stays f32 under
      // the policy: its gradients equal the f32 reference's exactly.
      const bool stays_f32 = c.name.rfind("conv2d_bf16", 0) == 0 && inputs[1].size(1) < kBf16MinChannels;
      for (size_t k = 0; k < inputs.size(); ++k) {
        INFO("input " << k);
        CHECK(compare(got.grads[k], want.grads[k], stays_f32 ? test::Tolerance{0, 0} : kBf16) == "");
        // Rounding the output gradient does change the products' gradients (not the bias's, a
        // plain f32 sum): the rows test what they claim.
        if (k < 2 && !want.grads[k].empty() && !stays_f32)
          CHECK(compare(got.grads[k], want.grads[k], test::Tolerance{1e-7, 1e-7}) != "");
      }
    }
  }
  CHECK(rows >= 8);
}

TEST_CASE("the step writes the bf16 copy of the forward weight, LATS's S_d(theta) included", "[precision][optim]") {
  std::vector<float> theta = normal_values(300, 7), plain = normal_values(40, 8);
  Tensor latent = test::leaf(theta), bias = test::leaf(plain);
  auto store = std::make_shared<ParamStore>(std::vector<OptimParam>{
      {"w", latent, true, 1.0f, 0.0f, true}, {"b", bias, false}});
  store->enable_bf16_copies();
  Sgd<LatsRule> opt(store, {0.1f, 0.9f, false, 1e-3f});
  opt.set_rule_params(0, {1});
  opt.set_rule_params(1, {0});
  opt.rule_scalars().threshold = 0.4f;
  REQUIRE(has_bf16_copy(latent));
  for (int step = 0; step < 3; ++step) {
    Tensor grads = store->grads();
    grads.copy_(Tensor::from_vector(Shape{store->total()}, normal_values(store->total(), 20 + step)));
    opt.step();
  }
  const std::vector<float> master = store->slot(0).master.to_vector<float>();
  const std::vector<float> w = latent.to_vector<float>(), b = bias.to_vector<float>();
  const std::vector<bf16> w16 = store->slot(0).fwd16.to_vector<bf16>(), b16 = store->slot(1).fwd16.to_vector<bf16>();
  int zeros = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    REQUIRE(w[i] == soft_threshold(master[i], 0.4f));
    REQUIRE(w16[i].bits == float_to_bf16(w[i]).bits);
    zeros += w[i] == 0.0f;
  }
  CHECK(zeros > 50);  // the threshold pruned some: the copy holds S_d(theta), not theta
  for (size_t i = 0; i < b.size(); ++i) REQUIRE(b16[i].bits == float_to_bf16(b[i]).bits);
  // The ops read that copy: it is what bf16_operand returns, without a cast.
  CHECK(bf16_operand(latent).raw_data() == store->slot(0).fwd16.raw_data());
}

TEST_CASE("a weight written outside the step gets its bf16 copy refreshed; other tensors are cast", "[precision]") {
  Tensor w = test::leaf({1.0f, -2.5f, 3.0f});
  {
    auto store = std::make_shared<ParamStore>(std::vector<OptimParam>{{"w", w, true}});
    store->enable_bf16_copies();
    auto bits = [&] {
      std::vector<bf16> v = bf16_operand(w).to_vector<bf16>();
      return std::vector<float>{bf16_to_float(v[0]), bf16_to_float(v[1]), bf16_to_float(v[2])};
    };
    CHECK(bits() == std::vector<float>{1.0f, -2.5f, 3.0f});  // first use casts
    mul_(w, Tensor::from_vector(Shape{3}, std::vector<float>{0.0f, 1.0f, 2.0f}));  // a hard prune / rescale
    CHECK(bits() == std::vector<float>{0.0f, -2.5f, 6.0f});
    w.copy_(Tensor::from_vector(Shape{3}, std::vector<float>{0.1f, 0.2f, 0.3f}));  // a rewind or checkpoint load
    CHECK(bits() == std::vector<float>{round_bf16(0.1f), round_bf16(0.2f), round_bf16(0.3f)});
    Tensor derived = mul(w, w);  // a non-leaf weight (LTP's soft mask): cast on the fly
    CHECK_FALSE(has_bf16_copy(derived));
    CHECK(bf16_operand(derived).dtype() == DType::bf16);
  }
  CHECK_FALSE(has_bf16_copy(w));  // the store is gone, and with it the copy
}

TEST_CASE("precision is a strict manifest key", "[precision][config]") {
  test::TempDir tmp("precision_key");
  nlohmann::json j = small_run(tmp.file("run"));
  CHECK(parse_run_config(as_manifest(j)).precision == Precision::fp32);
  j["precision"] = "bf16";
  CHECK(parse_run_config(as_manifest(j)).precision == Precision::bf16);
  j["precision"] = "fp16";
  CHECK_THROWS_WITH(parse_run_config(as_manifest(j)), Catch::Contains("test.json") && Catch::Contains("/precision") &&
                                                          Catch::Contains("fp32") && Catch::Contains("bf16") &&
                                                          Catch::Contains("fp16"));
  j["precision"] = 16;
  CHECK_THROWS_WITH(parse_run_config(as_manifest(j)), Catch::Contains("/precision"));
}

TEST_CASE("cuda.channels_last is a strict manifest key, on by default", "[precision][config]") {
  test::TempDir tmp("channels_last_key");
  nlohmann::json j = small_run(tmp.file("run"));
  CHECK(parse_run_config(as_manifest(j)).channels_last);
  j["cuda"]["channels_last"] = false;
  CHECK_FALSE(parse_run_config(as_manifest(j)).channels_last);
  j["cuda"]["channels_last"] = "nhwc";
  CHECK_THROWS_WITH(parse_run_config(as_manifest(j)), Catch::Contains("test.json") && Catch::Contains("/cuda/channels_last"));
}

TEST_CASE("a short bf16 run learns like the fp32 one, and resumes exactly", "[precision][train][resume]") {
  test::TempDir tmp("precision_train");
  nlohmann::json f = small_run(tmp.file("fp32")), h = small_run(tmp.file("bf16")), r = small_run(tmp.file("bf16_r"));
  h["precision"] = "bf16";
  r["precision"] = "bf16";
  const double fp32 = train_classifier(as_manifest(f))["test_accuracy"].get<double>();
  nlohmann::json full = train_classifier(as_manifest(h));
  const double bf16 = full["test_accuracy"].get<double>();
  INFO("fp32 " << fp32 << ", bf16 " << bf16);
  CHECK(bf16 >= 0.68);  // 2000 images, two epochs: measured 0.72 in fp32, 0.724 in bf16
  CHECK(std::fabs(bf16 - fp32) <= 0.03);

  TrainOptions kill;
  kill.interrupt = [](int64_t step) { return step == 27; };  // epoch 1, mid-epoch
  CHECK(train_classifier(as_manifest(r), kill).empty());
  TrainOptions resume;
  resume.resume = true;
  nlohmann::json resumed = train_classifier(as_manifest(r), resume);
  CHECK(test::metrics_without_timing(tmp.file("bf16")) == test::metrics_without_timing(tmp.file("bf16_r")));
  CHECK(resumed["test_accuracy"] == full["test_accuracy"]);
  CHECK(test::same_checkpoint_weights(tmp.file("bf16"), tmp.file("bf16_r")));
}

TEST_CASE("a checkpoint written under one precision resumes under the other", "[precision][train][resume]") {
  test::TempDir tmp("precision_cross");
  for (const char* first : {"fp32", "bf16"}) {
    const std::string second = std::string(first) == "fp32" ? "bf16" : "fp32";
    nlohmann::json j = small_run(tmp.file(first));
    j["precision"] = first;
    TrainOptions kill;
    kill.interrupt = [](int64_t step) { return step == 27; };
    CHECK(train_classifier(as_manifest(j), kill).empty());
    j["precision"] = second;
    TrainOptions resume;
    resume.resume = true;
    nlohmann::json s = train_classifier(as_manifest(j), resume);
    INFO(first << " -> " << second << ": " << s.dump());
    CHECK(s["test_accuracy"].get<double>() >= 0.68);  // as the runs above: 0.72 in either precision
    CHECK(test::metrics_without_timing(tmp.file(first)).size() == 2);
  }
}

TEST_CASE("every method trains under bf16 and writes f32 weights, the spiking CNN too", "[precision][train][pruning]") {
  test::TempDir tmp("precision_methods");
  struct Case {
    const char* name;
    nlohmann::json model, pruning;
  };
  const nlohmann::json mlp = {{"name", "mlp"}, {"hidden", {32, 16}}};
  const nlohmann::json cnn = {{"name", "cnn_small"}, {"widths", {4, 8}}, {"hidden", 16}};
  const nlohmann::json spiking = {{"name", "spiking_cnn"}, {"widths", {4, 8}}, {"T", 2}, {"neuron", "if"},
                                  {"surrogate", "atan"}};
  std::vector<Case> cases{
      {"lats", mlp, {{"method", "lats"}, {"final_threshold", 0.05}, {"schedule", "slats"}}},
      {"ltp", mlp, {{"method", "ltp"}, {"t0", 2.0}, {"lambda", 1.0}, {"lr_tau", 2.2e-8}, {"clip_tau", 20.0},
                    {"finetune_epochs", 1}, {"trail", {0.5}}, {"target", 0.5}, {"top_up", true}}},
      {"sap", cnn, {{"method", "sap"}, {"rounds", 1}, {"scope", "layer"}}},
      {"gmp", mlp, {{"method", "gmp"}, {"target", 0.8}, {"start_step", 1}, {"interval_steps", 2}, {"events", 4}}},
      {"greg1", cnn, {{"method", "greg1"}, {"mode", "unstructured"}, {"ratio", 0.5}, {"update_interval", 2},
                      {"reg_granularity_prune", 0.5}, {"reg_upper_limit", 1.0}, {"stabilize_iterations", 2},
                      {"lr_prune", 0.001}, {"pretrain_epochs", 1}, {"reg_epochs", 1}, {"finetune_epochs", 1},
                      {"finetune_lr", 0.05}}},
      {"spiking lats", spiking, {{"method", "lats"}, {"final_threshold", 0.05}, {"schedule", "slats"}}},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    const std::string out = tmp.file(c.name);
    nlohmann::json j = small_run(out);
    j["precision"] = "bf16";
    j["model"] = c.model;
    j["data"]["train_limit"] = 600;
    j["data"]["test_limit"] = 300;
    j["pruning"] = c.pruning;
    Manifest m = as_manifest(j);
    Config pc(m.json["pruning"], m.source, "/pruning");
    auto method = make_pruning_method(pc, method_registry().names());
    pc.finish();
    nlohmann::json s = train(m, *method);
    INFO(s.dump());
    CHECK(s["test_accuracy"].get<double>() > 0.15);  // learns something in a few steps on 600 images
    CHECK(s["sparsity"].get<double>() > 0.05);
    SafetensorsFile f = load_safetensors(out + "/model.safetensors");
    REQUIRE(!f.tensors.empty());
    for (const NamedTensor& t : f.tensors) CHECK(t.tensor.dtype() == DType::f32);  // the masters, as PyTorch reads them
  }
}

// Run by the CTest entry precision:bf16_emulated (test/CMakeLists.txt) with ONEDNN_MAX_CPU_ISA=AVX512_CORE,
// which hides the bf16 instructions from oneDNN: trim then emulates with one notice, same numbers.
TEST_CASE("without native bf16 the CPU emulates: the same numbers from f32 kernels", "[.][bf16_emulated]") {
  const char* isa = std::getenv("ONEDNN_MAX_CPU_ISA");
  REQUIRE(isa != nullptr);
  CHECK_FALSE(cpu::bf16_native());
  std::vector<float> a = rounded(normal_values(20 * 30, 1)), b = rounded(normal_values(30 * 10, 2));
  std::vector<float> want(200), got(200);
  cpu::gemm(false, true, 20, 10, 30, 1.0f, a.data(), b.data(), 0.0f, want.data());
  std::vector<bf16> a16 = to_bf16(a), b16 = to_bf16(b);
  cpu::gemm_bf16(false, true, 20, 10, 30, 1.0f, a16.data(), b16.data(), 0.0f, got.data());
  CHECK(compare(got, want, kBf16Exact) == "");
  // The closed form of the conv case above, on every backend.
  const float x = 1.0f + 1.0f / 1024.0f;
  for (cpu::ConvBackend backend : test::conv_backends()) {
    test::ConvBackendGuard guard(backend);
    Tensor in = Tensor::full(Shape{1, 16, 5, 5}, x), w = Tensor::full(Shape{2, 16, 3, 3}, 1.0f);
    PrecisionScope bf16(Precision::bf16);
    CHECK(conv2d(in, w, Tensor(), Conv2dParams{1, 1, 0, 0, 1, 1, 1}).to_vector<float>() ==
          std::vector<float>(18, 144.0f));
  }
}
