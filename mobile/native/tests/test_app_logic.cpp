// What the apps decide, here where ctest runs it (the same cases as Android's segcore AppLogicTest):
// camera frames upright before inference, a mask kept with the model that made it, the GPU falling
// back to the CPU.
#include <cmath>
#include <utility>

#include "segcore/json.h"
#include "segcore/runner.h"
#include "testing.h"

using namespace segcore;

namespace {

// A w x h RGB image whose pixel (x, y) is (x, y, 7).
Image coordinates(int w, int h) {
  Image image{h, w, 3, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3, 7)};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      image.data[(y * w + x) * 3] = static_cast<uint8_t>(x);
      image.data[(y * w + x) * 3 + 1] = static_cast<uint8_t>(y);
    }
  return image;
}

std::vector<std::pair<int, int>> sources(const Image& image) {
  std::vector<std::pair<int, int>> out;
  for (size_t i = 0; i < image.data.size(); i += image.channels) out.push_back({image.data[i], image.data[i + 1]});
  return out;
}

void rotation() {
  const Image frame = coordinates(3, 2);
  using P = std::pair<int, int>;
  struct Case {
    int degrees;
    bool mirrored;
    std::vector<P> expected;
  };
  const Case cases[] = {
      {0, false, {{0, 0}, {1, 0}, {2, 0}, {0, 1}, {1, 1}, {2, 1}}},
      {90, false, {{0, 1}, {0, 0}, {1, 1}, {1, 0}, {2, 1}, {2, 0}}},
      {180, false, {{2, 1}, {1, 1}, {0, 1}, {2, 0}, {1, 0}, {0, 0}}},
      {270, false, {{2, 0}, {2, 1}, {1, 0}, {1, 1}, {0, 0}, {0, 1}}},
      {0, true, {{2, 0}, {1, 0}, {0, 0}, {2, 1}, {1, 1}, {0, 1}}},
      {90, true, {{0, 0}, {0, 1}, {1, 0}, {1, 1}, {2, 0}, {2, 1}}},
      {180, true, {{0, 1}, {1, 1}, {2, 1}, {0, 0}, {1, 0}, {2, 0}}},
      {270, true, {{2, 1}, {2, 0}, {1, 1}, {1, 0}, {0, 1}, {0, 0}}},
  };
  for (const Case& c : cases) {
    const Image up = upright(frame.view(), c.degrees, c.mirrored);
    const bool quarter = c.degrees % 180 != 0;
    CHECK(up.width == (quarter ? 2 : 3) && up.height == (quarter ? 3 : 2));
    if (sources(up) != c.expected) {
      std::cerr << "upright " << c.degrees << " mirrored=" << c.mirrored << ": wrong pixel order\n";
      ++testing::failures;
    }
  }
  // RGBA kept; a crop in sensor pixels comes first.
  std::vector<uint8_t> rgba(4 * 3 * 4, 200);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 4; ++x) rgba[(y * 4 + x) * 4] = static_cast<uint8_t>(x), rgba[(y * 4 + x) * 4 + 1] = y;
  const Image cropped = upright({rgba.data(), 3, 4, 4}, 90, false, Crop{1, 1, 3, 2});
  CHECK(cropped.channels == 4 && cropped.width == 2 && cropped.height == 3 && cropped.data[3] == 200);
  Image as_rgb{cropped.height, cropped.width, 4, cropped.data};
  CHECK((sources(as_rgb) == std::vector<P>{{1, 2}, {1, 1}, {2, 2}, {2, 1}, {3, 2}, {3, 1}}));
  CHECK_THROWS(upright(frame.view(), 45, false), "rotation must be 0, 90, 180 or 270");
  CHECK_THROWS(upright({rgba.data(), 3, 4, 4}, 0, false, Crop{2, 0, 3, 3}), "is not inside the 4x3 frame");
}

// The golden scene as a sensor sees it at each rotation, back and front camera: turned upright first,
// the input tensor is the golden one, byte for byte.
void sensor_frames_give_the_golden_input(const std::string& contract) {
  const std::string where = "int8_rgba_letterbox";
  const Json c = Json::parse(testing::read_text(contract + "/cases/" + where + "/case.json"));
  const testing::Png png = testing::read_png(contract + "/" + c.at("image", where).at("file", where).string(where));
  const Image scene{png.height, png.width, png.channels, png.pixels};
  const ModelCard card = read_model_card(contract + "/" + c.at("card", where).string(where));
  const std::vector<uint8_t> golden =
      testing::read_file(contract + "/" + c.at("input", where).at("file", where).string(where));
  const Resize resize = parse_resize(c.at("preprocess", where).at("resize", where).string(where));
  auto tensor = [&](const Image& image) {
    return to_input_tensor(resize_pixels(image.view(), card.input.height, card.input.width, resize).rgb, card.input);
  };
  int same = 0;
  for (int degrees : {0, 90, 180, 270})
    for (bool mirrored : {false, true}) {
      const Image sensor = upright(upright(scene.view(), 0, mirrored).view(), (360 - degrees) % 360, false);
      const bool upright_same = tensor(upright(sensor.view(), degrees, mirrored)) == golden;
      CHECK(upright_same);
      same += upright_same;
      if (degrees != 0) CHECK(tensor(sensor) != golden);  // the frame as the sensor gives it is not the scene
    }
  std::cout << "rotation: " << same << " of 8 sensor frames (4 angles x back/front) give the golden input\n";
}

void pairing(const std::string& contract) {
  const ModelCard scores = read_model_card(contract + "/models/smoke_float.json");
  const ModelCard mask_model = read_model_card(contract + "/models/tiny_int8_mask.json");
  LabelledMask shown{scores, coordinates(3, 2), Mask{2, 3, {0, 5, 5, 1, 2, 3}}};
  const Recoloured drawn = recolour(shown, read_model_card(contract + "/models/smoke_float.json"), 100);
  CHECK(drawn.refused.empty() && drawn.rgba == overlay(shown.image.view(), shown.mask, scores.classes, 100));
  // After a switch: refused with a reason, not thrown, even though the ids would fit the other card.
  const Recoloured refused = recolour(shown, mask_model, 100);
  CHECK(refused.rgba.empty() && refused.refused.find("made by") != std::string::npos);
  CHECK(refused.refused.find("tiny_int8_mask.tflite") != std::string::npos);
  CHECK(same_model(scores, read_model_card(contract + "/models/smoke_float.json")));
  ModelCard recoloured = scores;
  recoloured.classes[2].color[0] ^= 1;
  CHECK(!same_model(scores, recoloured));
}

// A class filter colours only its classes (the rest is the image itself); a cutout keeps only its classes.
void class_filter(const std::string& contract) {
  const ModelCard card = read_model_card(contract + "/models/smoke_float.json");
  const Image image = coordinates(3, 2);
  const Mask mask{2, 3, {0, 5, 5, 1, 2, 3}};
  const std::vector<uint8_t> all = overlay(image.view(), mask, card.classes, 200);
  const std::vector<uint8_t> five = overlay(image.view(), mask, card.classes, 200, std::vector<int>{5});
  bool filtered = true;
  for (int p = 0; p < 6; ++p)
    for (int c = 0; c < 4; ++c) {
      const uint8_t expected = c == 3 ? 255 : mask.ids[p] == 5 ? all[p * 4 + c] : image.data[p * 3 + c];
      filtered &= five[p * 4 + c] == expected;
    }
  CHECK(filtered);
  CHECK(overlay(image.view(), mask, card.classes, 200, std::vector<int>{0, 1, 2, 3, 4, 5}) == all);
  const std::vector<uint8_t> cut = cutout(image.view(), mask, 6, {5, 1});
  bool cut_right = true;
  for (int p = 0; p < 6; ++p) {
    const bool kept = p >= 1 && p <= 3;
    for (int c = 0; c < 3; ++c) cut_right &= cut[p * 4 + c] == (kept ? image.data[p * 3 + c] : 0);
    cut_right &= cut[p * 4 + 3] == (kept ? 255 : 0);
  }
  CHECK(cut_right);
  CHECK_THROWS(cutout(image.view(), mask, 4, {1}), "class id 5; there are 4 classes");
  const LabelledMask shown{card, image, mask};
  CHECK(recolour(shown, card, 200, std::vector<int>{5}).rgba == five);
  // The mask to share: every pixel its class's card colour, opaque, whatever the filter.
  const std::vector<uint8_t> colours = mask_colours(shown);
  bool coloured = colours.size() == 6 * 4;
  for (int p = 0; p < 6 && coloured; ++p) {
    for (int c = 0; c < 3; ++c) coloured &= colours[p * 4 + c] == card.classes[mask.ids[p]].color[c];
    coloured &= colours[p * 4 + 3] == 255;
  }
  CHECK(coloured);

  // One filter per model, as Android's ClassFilters.
  const ModelCard other = read_model_card(contract + "/models/tiny_int8_mask.json");
  ClassFilters filters;
  CHECK(!filters.of(card));
  CHECK((filters.toggle(card, 3) == std::vector<int>{0, 1, 2, 4, 5}));
  CHECK(!filters.of(other));
  CHECK((filters.toggle(other, 2) == std::vector<int>{0, 1, 3, 4, 5}));
  CHECK((filters.cutout_classes(other) == std::vector<int>{0, 1, 3, 4, 5}));
  CHECK(!filters.toggle(card, 3));
  CHECK((filters.cutout_classes(card) == std::vector<int>{1, 2, 3, 4, 5}));  // "background" left out
  CHECK_THROWS(filters.toggle(card, 6), "class id 6;");
  // The segmenter's overlay takes the filter too.
  Segmenter segmenter(contract + "/models/smoke_float.json");
  std::vector<uint8_t> rgba(20 * 30 * 4, 90);
  Segmentation all_classes = segmenter.segment({rgba.data(), 20, 30, 4}, Resize::kStretch, 255);
  Segmentation none = segmenter.segment({rgba.data(), 20, 30, 4}, Resize::kStretch, 255, std::vector<int>{});
  bool image_kept = true;  // no class coloured: the image's pixels, alpha 255
  for (size_t i = 0; i < none.overlay_rgba.size(); ++i) image_kept &= none.overlay_rgba[i] == (i % 4 == 3 ? 255 : 90);
  CHECK(image_kept && all_classes.overlay_rgba != none.overlay_rgba);
}

// The live preview's mask (the model's, cropped to the content box) scaled to the image is the golden mask_image;
// its colours are premultiplied and filtered; the rate of frames.
void live_preview(const std::string& contract) {
  int same = 0;
  for (const std::string name : {"int8_rgba_letterbox", "int8mask_rgb_letterbox", "int8_rgb_stretch"}) {
    const Json c = Json::parse(testing::read_text(contract + "/cases/" + name + "/case.json"));
    const ModelCard card = read_model_card(contract + "/" + c.at("card", name).string(name));
    const Json& b = c.at("preprocess", name).at("content", name);
    const Box box{static_cast<int>(b.at("top", name).integer(name)), static_cast<int>(b.at("left", name).integer(name)),
                  static_cast<int>(b.at("height", name).integer(name)), static_cast<int>(b.at("width", name).integer(name))};
    const std::vector<uint8_t> raw =
        testing::read_file(contract + "/" + c.at("output", name).at("file", name).string(name));
    const Mask model = output_to_mask(raw.data(), raw.size(), card.output.dtype, card.output.shape, card.output.kind,
                                      static_cast<int>(card.classes.size()));
    const Mask crop = mask_crop(model, box, card.input.height, card.input.width);
    const testing::Png golden =
        testing::read_png(contract + "/" + c.at("mask_image", name).at("file", name).string(name));
    const Mask scaled = mask_to_image(crop, Box{0, 0, crop.height, crop.width}, crop.height, crop.width,
                                      golden.height, golden.width);
    const bool equal = scaled.ids == golden.pixels;
    CHECK(equal);
    same += equal;
  }
  std::cout << "live: " << same << " of 3 golden cases: the preview mask scaled to the image = mask_image\n";
  const ModelCard card = read_model_card(contract + "/models/smoke_float.json");
  const std::vector<uint8_t> rgba = colour_mask(Mask{1, 2, {1, 5}}, card.classes, 128, std::vector<int>{1});
  const uint8_t* colour = card.classes[1].color;
  CHECK((rgba == std::vector<uint8_t>{static_cast<uint8_t>((colour[0] * 128 + 127) / 255),
                                      static_cast<uint8_t>((colour[1] * 128 + 127) / 255),
                                      static_cast<uint8_t>((colour[2] * 128 + 127) / 255), 128, 0, 0, 0, 0}));
  CHECK_THROWS(colour_mask(Mask{1, 1, {0}}, card.classes, 256), "opacity must be 0..255");
  // The segmenter's live path on a real model: a mask at most the model's size, its colours at 255 opaque.
  Segmenter segmenter(contract + "/models/smoke_int8.json");
  std::vector<uint8_t> frame(48 * 64 * 4, 120);
  LiveSegmentation live = segmenter.segment_live({frame.data(), 48, 64, 4}, Resize::kLetterbox, 255);
  CHECK(live.mask.width == 81 && live.mask.height == 61 && live.rgba.size() == live.mask.ids.size() * 4);
  CHECK(live.rgba[3] == 255 && !live.classes.empty());

  RateMeter meter(4);
  CHECK(!meter.fps() && !meter.mean_inference_ms());
  meter.add(0, 10);
  CHECK(!meter.fps());
  for (int i = 1; i <= 5; ++i) meter.add(i * int64_t{100000000}, 10.0 + i);
  CHECK(meter.fps() && std::abs(*meter.fps() - 10.0) < 1e-9);
  CHECK(meter.mean_inference_ms() && std::abs(*meter.mean_inference_ms() - 13.5) < 1e-9);
  CHECK_THROWS(RateMeter(1), "a window of 2 frames or more");
}

void gpu_falls_back_to_the_cpu(const std::string& contract) {
  const std::string card = contract + "/models/tiny_int8_mask.json";
  OpenedSegmenter opened = open_segmenter(card, Accelerator::kGpu, 2, "/no_gpu_library_here");
  CHECK(opened.segmenter != nullptr);
  CHECK(opened.accelerator == Accelerator::kCpu);
  CHECK(opened.notice.find("GPU unavailable (LiteRT has no GPU accelerator here") == 0);
  CHECK(opened.notice.find("): running on the CPU") != std::string::npos);
  std::vector<uint8_t> rgba(20 * 30 * 4, 90);
  CHECK(opened.segmenter->segment({rgba.data(), 20, 30, 4}, Resize::kStretch, 100).mask_image.width == 30);
  std::cout << "fallback: " << opened.notice.substr(0, 60) << "...\n";
  OpenedSegmenter cpu = open_segmenter(card, Accelerator::kCpu, 1);
  CHECK(cpu.accelerator == Accelerator::kCpu && cpu.notice.empty());
  // A model outside the contract fails on the CPU as well: its own error, no segmenter.
  CHECK_THROWS(open_segmenter(contract + "/models/no_such_card.json", Accelerator::kGpu), "cannot be read");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: test_app_logic CONTRACT_DIR\n";
    return 2;
  }
  rotation();
  sensor_frames_give_the_golden_input(argv[1]);
  pairing(argv[1]);
  class_filter(argv[1]);
  live_preview(argv[1]);
  gpu_falls_back_to_the_cpu(argv[1]);
  return testing::finish("test_app_logic");
}
