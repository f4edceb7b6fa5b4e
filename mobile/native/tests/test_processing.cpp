// Pre/post-processing and the card reader on hand-checked cases (the same as tests/mobile/test_contract.py).
#include <cstring>
#include <limits>

#include "segcore/json.h"
#include "segcore/segcore.h"
#include "testing.h"

using namespace segcore;

static void bilinear() {
  // 1x2 -> 1x4, half-pixel centres: 0, 63.75 -> 64, 191.25 -> 191, 255.
  const uint8_t row[6] = {0, 0, 0, 255, 255, 255};
  uint8_t out[12];
  resize_bilinear(row, 1, 2, 3, out, 1, 4, 12);
  const uint8_t expected[4] = {0, 64, 191, 255};
  for (int x = 0; x < 4; ++x) CHECK(out[x * 3] == expected[x] && out[x * 3 + 2] == expected[x]);
  // Same size is the identity; alpha is dropped.
  std::vector<uint8_t> rgba(5 * 7 * 4);
  for (size_t i = 0; i < rgba.size(); ++i) rgba[i] = static_cast<uint8_t>(i * 37 + 11);
  Resized same = resize_pixels({rgba.data(), 5, 7, 4}, 5, 7, Resize::kStretch);
  bool identical = true;
  for (int p = 0; p < 35; ++p)
    for (int c = 0; c < 3; ++c) identical &= same.rgb[p * 3 + c] == rgba[p * 4 + c];
  CHECK(identical);
  // A constant image stays constant at any size.
  std::vector<uint8_t> flat(9 * 4 * 3, 77);
  Resized up = resize_pixels({flat.data(), 9, 4, 3}, 5, 13, Resize::kStretch);
  bool constant = true;
  for (uint8_t v : up.rgb) constant &= v == 77;
  CHECK(constant);
}

static void letterbox() {
  CHECK((content_box(97, 131, 65, 81, Resize::kLetterbox) == Box{2, 0, 60, 81}));
  CHECK((content_box(120, 75, 65, 81, Resize::kLetterbox) == Box{0, 20, 65, 41}));
  CHECK((content_box(97, 131, 65, 81, Resize::kStretch) == Box{0, 0, 65, 81}));
  std::vector<uint8_t> white(2 * 8 * 3, 255);
  Resized boxed = resize_pixels({white.data(), 2, 8, 3}, 4, 4, Resize::kLetterbox, 0);
  CHECK((boxed.box == Box{1, 0, 1, 4}));
  CHECK(boxed.rgb[0] == 0 && boxed.rgb[4 * 3] == 255 && boxed.rgb[2 * 4 * 3] == 0);  // pad, content, pad
  CHECK_THROWS(parse_resize("crop"), "letterbox");
  CHECK_THROWS(resize_pixels({white.data(), 2, 8, 2}, 4, 4, Resize::kStretch), "3 or 4 channels");
  CHECK_THROWS(resize_pixels({nullptr, 2, 8, 3}, 4, 4, Resize::kStretch), "null");
}

static void input_tensors() {
  InputSpec spec;
  spec.height = 1;
  spec.width = 1;
  const std::vector<uint8_t> pixel{0, 1, 255};
  CHECK(to_input_tensor(pixel, spec) == pixel);  // uint8: the pixels
  spec.dtype = DType::kFloat32;
  for (int c = 0; c < 3; ++c) spec.mean[c] = spec.std[c] = 127.5;
  std::vector<uint8_t> bytes = to_input_tensor(pixel, spec);
  float values[3];
  std::memcpy(values, bytes.data(), 12);
  CHECK(values[0] == -1.0f && values[2] == 1.0f && values[1] == (1.0f - 127.5f) / 127.5f);
  spec.dtype = DType::kInt8;
  CHECK_THROWS(to_input_tensor(pixel, spec), "quantization");
  for (int c = 0; c < 3; ++c) spec.mean[c] = 0, spec.std[c] = 1;
  spec.quantization = Quantization{2.0, -3};  // 0 -> -3; 0.5 -> 1 -> -2; 127.5 -> 128 -> 125
  bytes = to_input_tensor(pixel, spec);
  CHECK(static_cast<int8_t>(bytes[0]) == -3 && static_cast<int8_t>(bytes[1]) == -2 &&
        static_cast<int8_t>(bytes[2]) == 125);
  spec.quantization = Quantization{0.5, 0};  // clamps at 127
  bytes = to_input_tensor(pixel, spec);
  CHECK(static_cast<int8_t>(bytes[0]) == 0 && static_cast<int8_t>(bytes[1]) == 2 &&
        static_cast<int8_t>(bytes[2]) == 127);
}

static void output_masks() {
  const int8_t int8_scores[6] = {3, 7, 7, 1, 0, 0};  // ties go to the lowest class
  Mask m = output_to_mask(int8_scores, 6, DType::kInt8, {1, 1, 2, 3}, "scores", 3);
  CHECK(m.height == 1 && m.width == 2 && m.ids == std::vector<uint8_t>({1, 0}));
  const uint8_t uint8_scores[6] = {0, 200, 201, 9, 9, 9};
  m = output_to_mask(uint8_scores, 6, DType::kUInt8, {1, 2, 1, 3}, "scores", 3);
  CHECK(m.height == 2 && m.width == 1 && m.ids == std::vector<uint8_t>({2, 0}));
  const float float_scores[4] = {-1.0f, -0.5f, 0.25f, 0.125f};
  m = output_to_mask(float_scores, 16, DType::kFloat32, {1, 1, 2, 2}, "scores", 2);
  CHECK(m.ids == std::vector<uint8_t>({1, 0}));
  const int64_t ids[2] = {2, 0};
  m = output_to_mask(ids, 16, DType::kInt64, {1, 1, 2}, "mask", 3);
  CHECK(m.ids == std::vector<uint8_t>({2, 0}));
  const uint8_t bad_ids[2] = {0, 3};
  CHECK_THROWS(output_to_mask(bad_ids, 2, DType::kUInt8, {1, 1, 2}, "mask", 3), "class id 3");
  CHECK_THROWS(output_to_mask(int8_scores, 6, DType::kInt8, {1, 1, 2, 3}, "scores", 4), "[1, H, W, 4]");
  CHECK_THROWS(output_to_mask(int8_scores, 5, DType::kInt8, {1, 1, 2, 3}, "scores", 3), "needs 6");
  CHECK_THROWS(output_to_mask(ids, 16, DType::kInt64, {1, 1, 2, 3}, "scores", 3), "cannot be int64");
  CHECK_THROWS(output_to_mask(int8_scores, 6, DType::kInt8, {1, 1, 1, 2, 3}, "scores", 3), "[1, H, W, 3]");
  const float nan_scores[2] = {0.0f, std::numeric_limits<float>::quiet_NaN()};
  CHECK_THROWS(output_to_mask(nan_scores, 8, DType::kFloat32, {1, 1, 1, 2}, "scores", 2), "NaN");
}

static void back_to_image_and_overlay() {
  Mask mask{4, 4, std::vector<uint8_t>(16, 0)};
  for (int x = 0; x < 4; ++x) mask.ids[4 + x] = mask.ids[8 + x] = x < 2 ? 1 : 2;
  Mask back = mask_to_image(mask, Box{1, 0, 2, 4}, 4, 4, 2, 8);
  CHECK(back.ids == std::vector<uint8_t>({1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 2, 2, 2, 2}));
  std::vector<uint8_t> image(2 * 8 * 3, 100);
  std::vector<ClassInfo> classes(3);
  classes[1].color[0] = 255;
  classes[2].color[1] = 255;
  std::vector<uint8_t> none = overlay({image.data(), 2, 8, 3}, back, classes, 0);
  CHECK(none[0] == 100 && none[1] == 100 && none[3] == 255);
  std::vector<uint8_t> half = overlay({image.data(), 2, 8, 3}, back, classes, 128);
  CHECK(half[0] == (100 * 127 + 255 * 128 + 127) / 255 && half[1] == (100 * 127 + 127) / 255 && half[2] == 50);
  CHECK_THROWS(overlay({image.data(), 2, 8, 3}, back, classes, 256), "opacity");
  std::vector<ClassCount> present = classes_present(back);
  CHECK(present.size() == 2 && present[0].id == 1 && present[0].pixels == 8 && present[1].id == 2);
  CHECK_THROWS(mask_to_image(mask, Box{3, 0, 2, 4}, 4, 4, 2, 8), "outside");
}

static void json_and_cards() {
  Json doc = Json::parse(R"({"a": [1, -2.5e1, true, null], "s": "x\"\u00e9\ud83d\ude00"})");
  CHECK(doc.at("a", "doc").at(1, "a").number("a[1]") == -25.0);
  CHECK(doc.at("a", "doc").at(2, "a").boolean("a[2]"));
  CHECK(doc.at("s", "doc").string("s") == "x\"\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(Json::parse(" 123.675 ").number("n") == 123.675);
  CHECK_THROWS(Json::parse("{\"a\": 1,}"), "expected a string key at byte 8");
  CHECK_THROWS(Json::parse("[1, 2"), "expected ',' or ']'");
  CHECK_THROWS(Json::parse("{} x"), "after the JSON value");
  CHECK_THROWS(doc.at("missing", "doc"), "no key \"missing\"");
  CHECK_THROWS(doc.at("s", "doc").number("doc.s"), "doc.s must be a number");
  std::string nested(100, '[');
  CHECK_THROWS(Json::parse(nested), "deeper");
  CHECK_THROWS(parse_model_card("{\"format\": \"other/1\"}"), "card.format");
  CHECK_THROWS(read_model_card("/nonexistent/card.json"), "cannot be read");
  CHECK_THROWS(parse_dtype("int16"), "unknown dtype \"int16\"");

  // The card's default resize: "stretch" or "letterbox", stretch when absent.
  const std::string input = R"({"height": 4, "width": 6, "channels": 3, "color": "RGB", "layout": "NHWC",
      "dtype": "uint8", "normalization": {"mean": [0, 0, 0], "std": [1, 1, 1]}, "quantization": null)";
  CHECK(parse_input_spec(Json::parse(input + "}")).resize == Resize::kStretch);
  CHECK(parse_input_spec(Json::parse(input + R"(, "resize": "letterbox"})")).resize == Resize::kLetterbox);
  CHECK(parse_input_spec(Json::parse(input + R"(, "resize": "stretch"})")).resize == Resize::kStretch);
  CHECK_THROWS(parse_input_spec(Json::parse(input + R"(, "resize": "crop"})")),
               "card.input: resize must be \"stretch\" or \"letterbox\", got \"crop\"");
}

int main() {
  bilinear();
  letterbox();
  input_tensors();
  output_masks();
  back_to_image_and_overlay();
  json_and_cards();
  return testing::finish("test_processing");
}
