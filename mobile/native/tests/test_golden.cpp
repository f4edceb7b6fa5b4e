// The golden cases of mobile/contract (golden.json): preprocessing gives input.bin byte for byte
// (a tensor too large to commit: its SHA-256); the stored output gives mask_model.png exactly;
// the runner's mask agrees with Python's on >= 99.9% of pixels at model and image resolution;
// mask_image.png gives overlay.png and classes_present exactly. The runner on 1 and on 2 CPU
// threads gives the same mask.
//
//   test_golden CONTRACT_DIR SHARED_DIR {project|reference}
// "reference" runs the cases of ../shared (exit 77 = skipped when it is absent).
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "segcore/json.h"
#include "segcore/runner.h"
#include "segcore/segcore.h"
#include "testing.h"

using namespace segcore;

namespace {

constexpr double kMinAgreement = 0.999;

double agreement(const Mask& ours, const testing::Png& golden, const std::string& what) {
  if (golden.channels != 1 || golden.height != ours.height || golden.width != ours.width) {
    std::cerr << what << ": golden " << golden.height << "x" << golden.width << "x" << golden.channels
              << " vs ours " << ours.height << "x" << ours.width << "\n";
    return 0;
  }
  size_t same = 0;
  for (size_t i = 0; i < ours.ids.size(); ++i) same += ours.ids[i] == golden.pixels[i];
  return static_cast<double>(same) / ours.ids.size();
}

Mask to_mask(const testing::Png& png) { return Mask{png.height, png.width, png.pixels}; }

void run_case(const std::string& contract, const std::string& shared, const std::string& name) {
  const std::string where = "case " + name;
  const Json c = Json::parse(testing::read_text(contract + "/cases/" + name + "/case.json"));
  auto root = [&](const Json& entry) {
    return entry.at("root", where).string(where) == "shared" ? shared : contract;
  };
  const Json& image_entry = c.at("image", where);
  testing::Png image = testing::read_png(root(image_entry) + "/" + image_entry.at("file", where).string(where));
  CHECK(image.channels == image_entry.at("channels", where).integer(where));
  const ImageView view{image.pixels.data(), image.height, image.width, image.channels};

  const Json card_json = Json::parse(testing::read_text(contract + "/" + c.at("card", where).string(where)));
  const InputSpec input = parse_input_spec(card_json.at("input", "card"));
  const Json& pre = c.at("preprocess", where);
  Resized resized = resize_pixels(view, input.height, input.width,
                                  parse_resize(pre.at("resize", where).string(where)),
                                  static_cast<uint8_t>(pre.at("pad", where).integer(where)));
  const Json& box = pre.at("content", where);
  CHECK((resized.box == Box{static_cast<int>(box.at("top", where).integer(where)),
                            static_cast<int>(box.at("left", where).integer(where)),
                            static_cast<int>(box.at("height", where).integer(where)),
                            static_cast<int>(box.at("width", where).integer(where))}));
  const std::vector<uint8_t> tensor = to_input_tensor(resized.rgb, input);
  const Json& input_entry = c.at("input", where);
  std::string report = name + ": ";
  if (!input_entry.at("file", where).is_null()) {
    const bool same = tensor == testing::read_file(contract + "/" + input_entry.at("file", where).string(where));
    CHECK(same);
    report += same ? "input tensor identical" : "INPUT TENSOR DIFFERS";
  } else {  // too large to commit: its SHA-256
    const bool same = testing::sha256_hex(tensor) == input_entry.at("sha256", where).string(where);
    CHECK(same);
    report += same ? "input tensor's SHA-256 identical" : "INPUT TENSOR'S SHA-256 DIFFERS";
  }
  if (c.at("model", where).is_null()) {
    std::cout << report << " (preprocessing-only case)\n";
    return;
  }

  const ModelCard card = parse_model_card(testing::read_text(contract + "/" + c.at("card", where).string(where)));
  const Json& model = c.at("model", where);
  const std::string model_path = root(model) + "/" + model.at("path", where).string(where);
  std::unique_ptr<Runner> runner = Runner::open(model_path, Accelerator::kCpu, 1);
  runner->check_card(card);
  const int classes = static_cast<int>(card.classes.size());
  const Json& out_entry = c.at("output", where);
  CHECK(runner->output().shape.size() == out_entry.at("shape", where).size(where));
  CHECK(dtype_name(runner->output().dtype) == out_entry.at("dtype", where).string(where));

  const testing::Png golden_model = testing::read_png(contract + "/" + c.at("mask_model", where).at("file", where).string(where));
  const testing::Png golden_image = testing::read_png(contract + "/" + c.at("mask_image", where).at("file", where).string(where));
  if (!out_entry.at("file", where).is_null()) {  // the stored output -> exactly Python's mask
    const std::vector<uint8_t> stored = testing::read_file(contract + "/" + out_entry.at("file", where).string(where));
    Mask from_stored = output_to_mask(stored.data(), stored.size(), runner->output().dtype, runner->output().shape,
                                      card.output.kind, classes);
    CHECK(agreement(from_stored, golden_model, where) == 1.0);
  }
  // mask_to_image, overlay and classes_present on Python's mask: exact.
  Mask golden_back = mask_to_image(to_mask(golden_model), resized.box, input.height, input.width, image.height,
                                   image.width);
  CHECK(agreement(golden_back, golden_image, where + " mask_to_image") == 1.0);
  const Json& overlay_entry = c.at("overlay", where);
  if (!overlay_entry.is_null()) {
    testing::Png golden_overlay = testing::read_png(contract + "/" + overlay_entry.at("file", where).string(where));
    const int opacity = static_cast<int>(overlay_entry.at("opacity", where).integer(where));
    CHECK(overlay(view, to_mask(golden_image), card.classes, opacity) == golden_overlay.pixels);
  }
  const Json& present = c.at("classes_present", where);
  std::vector<ClassCount> counts = classes_present(to_mask(golden_image));
  CHECK(counts.size() == present.size(where));
  for (size_t i = 0; i < counts.size() && i < present.size(where); ++i)
    CHECK(counts[i].id == present.at(i, where).at("id", where).integer(where) &&
          counts[i].pixels == present.at(i, where).at("pixels", where).integer(where));

  // The runner end to end.
  const std::vector<uint8_t> output = runner->run(tensor);
  Mask ours = output_to_mask(output.data(), output.size(), runner->output().dtype, runner->output().shape,
                             card.output.kind, classes);
  Mask ours_image = mask_to_image(ours, resized.box, input.height, input.width, image.height, image.width);
  const double at_model = agreement(ours, golden_model, where), at_image = agreement(ours_image, golden_image, where);
  CHECK(at_model >= kMinAgreement);
  CHECK(at_image >= kMinAgreement);

  // Two CPU threads: XNNPACK splits the work between them, the mask stays the same.
  const std::vector<uint8_t> output2 = Runner::open(model_path, Accelerator::kCpu, 2)->run(tensor);
  const Mask ours2 = output_to_mask(output2.data(), output2.size(), runner->output().dtype, runner->output().shape,
                                    card.output.kind, classes);
  CHECK(ours2.ids == ours.ids);
  report += ours2.ids != ours.ids ? "; 2 THREADS GIVE ANOTHER MASK"
            : output2 == output   ? "; 1 and 2 threads: same mask, same output bytes"
                                  : "; 1 and 2 threads: same mask (output bytes differ)";
  char figures[160];
  std::snprintf(figures, sizeof figures, "; runner mask = Python mask on %.4f%% of %d px (model), %.4f%% of %d px (image)",
                100 * at_model, ours.height * ours.width, 100 * at_image, ours_image.height * ours_image.width);
  std::cout << report << figures << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: test_golden CONTRACT_DIR SHARED_DIR {project|reference}\n";
    return 2;
  }
  const std::string contract = argv[1], group = argv[3];
  // The digest of the tensors not committed, on FIPS 180-4's own examples.
  CHECK(testing::sha256_hex({'a', 'b', 'c'}) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(testing::sha256_hex({}) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const char* env_shared = std::getenv("DEEPLAB_SHARED");
  const std::string shared = env_shared && *env_shared ? env_shared : argv[2];
  const Json index = Json::parse(testing::read_text(contract + "/golden.json"));
  int ran = 0;
  for (size_t i = 0; i < index.at("cases", "golden.json").size("cases"); ++i) {
    const std::string name = index.at("cases", "golden.json").at(i, "cases").string("cases");
    const bool reference = name.rfind("reference_", 0) == 0;
    if (reference != (group == "reference")) continue;
    if (reference && !testing::file_exists(shared + "/reference/deeplabv3_257_mv_gpu.tflite")) {
      std::cout << "SKIP: the shared folder " << shared << " has no reference model\n";
      return 77;
    }
    try {
      run_case(contract, shared, name);
      ++ran;
    } catch (const std::exception& error) {
      ++testing::failures;
      std::cerr << name << ": " << error.what() << "\n";
    }
  }
  CHECK(ran > 0);
  return testing::finish(("test_golden " + group).c_str());
}
