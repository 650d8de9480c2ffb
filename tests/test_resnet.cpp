// ResNet encoders: torchvision names, sizes and initialisation; a width-reduced ResNet-18 (CIFAR stem)
// on PyTorch-written weights matches PyTorch's features; when torch is installed, the full ResNet-18
// goes both ways through tests/scripts/torch_roundtrip.py (torchvision loads our file strictly, and
// ours loads torchvision's).
#include <cstdlib>
#include <set>

#include "resa/nn/ema.h"
#include "resa/nn/io/checkpoint.h"
#include "resa/nn/io/safetensors.h"
#include "resa/nn/resnet.h"
#include "test_util.h"

using namespace resa;
using namespace resa::test;
using namespace resa::nn;

namespace {

bool torch_available() { return std::system("/usr/bin/python3 -c 'import torch, torchvision' > /dev/null 2>&1") == 0; }

std::string roundtrip_script() { return std::string(RESA_SOURCE_DIR) + "/tests/scripts/torch_roundtrip.py"; }

}  // namespace

TEST_CASE("ResNet-18 (width 1/8, CIFAR stem) on PyTorch-written weights matches PyTorch's features") {
  auto fx = load_fixture("nn_resnet18_w8");
  auto net = make_resnet(ResNetOptions().arch("resnet18").width_multiplier(fx.meta["width_multiplier"].get<double>()));
  CHECK(net->feature_dim() == 64);
  load_state_dict_file(std::string(RESA_TEST_DATA) + "/nn_resnet18_w8.safetensors", *net, /*strict=*/true);
  Tensor x = fx.get("x");
  net->eval();
  {
    NoGradGuard ng;
    double err = max_rel_error(net->forward(x), fx.get("y_eval"));
    MESSAGE("resnet18 w8 eval: max rel error " << err);
    CHECK(err <= 1e-4);
  }
  net->train();
  Tensor y = net->forward(x);
  double err = max_rel_error(y, fx.get("y_train"));
  MESSAGE("resnet18 w8 train: max rel error " << err);
  CHECK(err <= 1e-4);
  auto sd = net->state_dict();
  CHECK(max_rel_error(sd.at("bn1.running_mean"), fx.get("after.bn1.running_mean")) <= 1e-4);
  CHECK(max_rel_error(sd.at("layer4.1.bn2.running_var"), fx.get("after.layer4.1.bn2.running_var")) <= 1e-4);
  CHECK(sd.at("layer4.1.bn2.num_batches_tracked").item() == 8);
  // it trains: gradients reach the stem
  sum(y).backward();
  CHECK(net->child("conv1")->param("weight").grad().defined());
}

TEST_CASE("ResNet parameter names, counts and feature dims are torchvision's") {
  auto r18 = make_resnet(ResNetOptions().arch("resnet18"));
  auto st = load_safetensors(std::string(RESA_TEST_DATA) + "/nn_resnet18_w8.safetensors");
  std::set<std::string> mine, theirs;
  for (auto& [k, t] : r18->state_dict()) mine.insert(k);
  for (auto& [k, t] : st.tensors) theirs.insert(k);
  CHECK(mine == theirs);
  CHECK(r18->num_parameters() == 11168832);  // torchvision resnet18 - fc - 7x7 stem + 3x3 stem
  CHECK(r18->feature_dim() == 512);
  CHECK(resnet_feature_dim("resnet18") == 512);
  CHECK(resnet_feature_dim("resnet50") == 2048);
  CHECK(resnet_feature_dim("resnet_small") == 256);
  auto sd = r18->state_dict();
  CHECK(sd.at("layer2.0.downsample.0.weight").shape() == Shape{128, 64, 1, 1});
  CHECK(sd.at("conv1.weight").shape() == Shape{64, 3, 3, 3});
  auto r50 = make_resnet(ResNetOptions().arch("resnet50").stem(ResNetStem::ImageNet));
  CHECK(r50->num_parameters() == 23508032);  // torchvision resnet50 without fc
  CHECK(r50->state_dict().at("layer1.0.downsample.1.running_var").shape() == Shape{256});
  CHECK(r50->state_dict().at("layer3.5.conv3.weight").shape() == Shape{1024, 256, 1, 1});
  auto r34 = make_resnet(ResNetOptions().arch("resnet34").stem(ResNetStem::ImageNet));
  CHECK(r34->num_parameters() == 21797672 - 513000);  // torchvision resnet34 without fc
  RESA_CHECK_THROWS_WITH_SUBSTR(make_resnet(ResNetOptions().arch("resnet19")), "unknown architecture 'resnet19'");
}

TEST_CASE("small ResNet, grayscale ImageNet stem, zero_init_residual, initialisation statistics") {
  auto small = make_resnet(ResNetOptions().arch("resnet_small").stem(ResNetStem::ImageNet).in_channels(1).seed(3));
  Tensor x = randn({2, 1, 40, 40});
  small->eval();
  Tensor y = small->forward(x);
  CHECK(y.shape() == Shape{2, 256});
  RESA_CHECK_THROWS_WITH_SUBSTR(small->forward(randn({2, 3, 40, 40})),
                                "[ResNet] expects (N, 1, H, W) input, got (2, 3, 40, 40)");
  auto z = make_resnet(ResNetOptions().arch("resnet_small").zero_init_residual());
  for (auto& [k, t] : z->state_dict()) {
    if (k.find(".bn2.weight") != std::string::npos) CHECK(max(abs(t)).item() == 0.0);
    if (k == "bn1.weight") CHECK(t.to_vector<float>()[0] == 1.0f);
  }
  // convs: kaiming_normal(fan_out, relu): std = sqrt(2 / (out * k * k))
  auto r = make_resnet(ResNetOptions().arch("resnet18").seed(9));
  Tensor w = r->state_dict().at("layer3.0.conv2.weight");  // (256, 256, 3, 3)
  double var = mean(pow(w, 2.0)).item();
  CHECK(var == doctest::Approx(2.0 / (256 * 9)).epsilon(0.02));
  CHECK(std::abs(mean(w).item()) < 1e-3);
  // the same seed gives the same network
  auto r2 = make_resnet(ResNetOptions().arch("resnet18").seed(9));
  CHECK(max_abs_error(r2->state_dict().at("layer3.0.conv2.weight"), w) == 0.0);
  std::string s = small->summary();
  CHECK(s.find("layer1: Sequential") != std::string::npos);
}

TEST_CASE("clone gives an independent EMA teacher; ema_update with m = 0 copies the student") {
  auto student = make_resnet(ResNetOptions().arch("resnet_small").seed(1));
  auto teacher = clone_as(student);
  CHECK(teacher->feature_dim() == student->feature_dim());
  Tensor x = randn({2, 3, 16, 16});
  student->train();
  student->forward(x);  // moves the student's running stats
  for (auto& p : student->parameters()) {
    NoGradGuard ng;
    p.copy_(p * 1.5);
  }
  ema_update(*teacher, *student, 0.0);
  auto ts = teacher->state_dict(), ss = student->state_dict();
  for (auto& [k, t] : ss) CHECK(max_abs_error(ts.at(k).to(DType::Float64), t.to(DType::Float64)) == 0.0);
  student->eval(), teacher->eval();
  NoGradGuard ng;
  CHECK(max_abs_error(teacher->forward(x), student->forward(x)) == 0.0);
}

TEST_CASE("full-size ResNet-18 round trip with torchvision (needs /usr/bin/python3 with torch)") {
  if (!torch_available()) {
    MESSAGE("skipped: /usr/bin/python3 cannot import torch and torchvision");
    return;
  }
  std::string dir = RESA_TEST_TMP;
  // torchvision -> resa
  std::string cmd = "/usr/bin/python3 " + roundtrip_script() + " write " + dir;
  REQUIRE(std::system(cmd.c_str()) == 0);
  auto net = make_resnet(ResNetOptions().arch("resnet18"));
  load_state_dict_file(dir + "/tv_weights.safetensors", *net, true);
  net->eval();
  Tensor x = load_safetensors(dir + "/tv_input.safetensors").tensors.at("x");
  NoGradGuard ng;
  double err = max_rel_error(net->forward(x), load_safetensors(dir + "/tv_features.safetensors").tensors.at("y"));
  MESSAGE("torchvision resnet18 weights in resa: max rel error " << err);
  CHECK(err <= 1e-4);
  // resa -> torchvision (strict=True), features compared by the script
  auto ours = make_resnet(ResNetOptions().arch("resnet18").seed(4));
  ours->train();
  ours->forward(x);  // non-trivial running statistics
  ours->eval();
  save_state_dict(dir + "/resa_encoder.safetensors", *ours, {{"arch", "resnet18"}});
  save_safetensors(dir + "/resa_features.safetensors", {{"y", ours->forward(x)}});
  cmd = "/usr/bin/python3 " + roundtrip_script() + " check " + dir + "/resa_encoder.safetensors " + dir +
        "/tv_input.safetensors " + dir + "/resa_features.safetensors";
  CHECK(std::system(cmd.c_str()) == 0);
}
