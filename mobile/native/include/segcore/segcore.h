// segcore: the model contract of mobile/contract/README.md in C++17, standard library only.
//
// Pre-processing (RGB/RGBA pixels -> input tensor), post-processing (model output -> class
// mask -> mask at image size -> colour overlay, classes present) and the model card reader.
// Every function is bit-exact with mobile/contract/algorithms.py; every error is a
// segcore::Error whose message names what is wrong.
#ifndef SEGCORE_SEGCORE_H_
#define SEGCORE_SEGCORE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace segcore {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class DType { kUInt8, kInt8, kFloat32, kInt32, kInt64 };
const char* dtype_name(DType dtype);
DType parse_dtype(const std::string& name);  // "uint8", "int8", "float32", "int32", "int64"
size_t dtype_size(DType dtype);

struct Quantization {
  double scale = 0;
  int64_t zero_point = 0;
};

enum class Resize { kStretch, kLetterbox };
Resize parse_resize(const std::string& name);  // "stretch" or "letterbox"

// ---- model card (format deeplab_tf.model_card/1) ----------------------------------------

struct InputSpec {
  int height = 0, width = 0;
  DType dtype = DType::kUInt8;
  double mean[3] = {0, 0, 0}, std[3] = {1, 1, 1};  // pixel space: x = (pixel - mean) / std
  std::optional<Quantization> quantization;
  Resize resize = Resize::kStretch;  // the app's default ("resize"; stretch when the card has none)
};

struct OutputSpec {
  std::string kind;  // "scores" or "mask"
  DType dtype = DType::kUInt8;
  std::vector<int64_t> shape;
  std::optional<Quantization> quantization;
};

struct ClassInfo {
  int id = 0;
  std::string name;
  uint8_t color[3] = {0, 0, 0};
};

struct ModelCard {
  std::string name, model_file, labels_file;
  InputSpec input;
  OutputSpec output;
  std::vector<ClassInfo> classes;
};

class Json;  // json.h: the parsed document
ModelCard parse_model_card(const std::string& text);  // throws Error naming the field
ModelCard read_model_card(const std::string& path);
InputSpec parse_input_spec(const Json& input);        // the card's "input" object

// ---- images and pre-processing (README sections 1, 2) ------------------------------------

struct ImageView {  // interleaved 8-bit RGB or RGBA rows, no padding
  const uint8_t* data = nullptr;
  int height = 0, width = 0, channels = 0;
};

struct Box {
  int top = 0, left = 0, height = 0, width = 0;
  bool operator==(const Box& other) const {
    return top == other.top && left == other.left && height == other.height && width == other.width;
  }
};

Box content_box(int image_height, int image_width, int height, int width, Resize resize);
// 8-bit bilinear resize with half-pixel centres and 11-bit weights; channels = 3 of src are used.
void resize_bilinear(const uint8_t* src, int src_height, int src_width, int src_channels, uint8_t* dst,
                     int dst_height, int dst_width, int dst_row_stride);

struct Resized {
  std::vector<uint8_t> rgb;  // height x width x 3
  Box box;
};
Resized resize_pixels(const ImageView& image, int height, int width, Resize resize, uint8_t pad = 0);
// The input tensor's bytes (little-endian, NHWC) for the card's input.
std::vector<uint8_t> to_input_tensor(const std::vector<uint8_t>& rgb, const InputSpec& input);

// ---- post-processing (README sections 3, 4, 5) -------------------------------------------

struct Mask {
  int height = 0, width = 0;
  std::vector<uint8_t> ids;  // class id per pixel, row-major
};

// scores [1, H, W, C] (float32, uint8, int8; argmax over raw values, ties to the lowest id)
// or mask [1, H, W] / [1, H, W, 1] (uint8, int32, int64; ids must be < num_classes).
Mask output_to_mask(const void* data, size_t size_bytes, DType dtype, const std::vector<int64_t>& shape,
                    const std::string& kind, int num_classes);
Mask mask_to_image(const Mask& mask, const Box& box, int input_height, int input_width, int image_height,
                   int image_width);
// RGBA overlay: colour * opacity + image * (255 - opacity), opacity 0..255, alpha 255. With a class
// filter `only`, classes outside it are not coloured (the image's own pixels).
std::vector<uint8_t> overlay(const ImageView& image, const Mask& mask, const std::vector<ClassInfo>& classes,
                             int opacity, const std::optional<std::vector<int>>& only = std::nullopt);
// Background removal: the image's pixels where the class is in `keep`, alpha 255; elsewhere all four bytes 0.
std::vector<uint8_t> cutout(const ImageView& image, const Mask& mask, int num_classes, const std::vector<int>& keep);

// The part of `mask` that shows the image: `box` (model-input coordinates) scaled to the mask's size as
// mask_to_image scales it, at the mask's own resolution (what a live preview draws over the camera picture).
Mask mask_crop(const Mask& mask, const Box& box, int input_height, int input_width);
// The mask in the card's colours with alpha `opacity` (0 outside the filter `only`), RGBA premultiplied
// (each colour byte (c * alpha + 127) / 255), at the mask's size.
std::vector<uint8_t> colour_mask(const Mask& mask, const std::vector<ClassInfo>& classes, int opacity,
                                 const std::optional<std::vector<int>>& only = std::nullopt);

struct ClassCount {
  int id = 0;
  int64_t pixels = 0;
};
std::vector<ClassCount> classes_present(const Mask& mask);

// ---- what the apps decide (mobile/README.md, "Where the apps decide") ----------------------

struct Image {  // an owned ImageView
  int height = 0, width = 0, channels = 0;
  std::vector<uint8_t> data;
  ImageView view() const { return {data.data(), height, width, channels}; }
};

struct Crop {  // sensor pixels: columns [left, left + width), rows [top, top + height)
  int left = 0, top = 0, width = 0, height = 0;
};

// A camera frame upright before inference: cropped to `crop` (none: whole frame), turned clockwise by
// rotation_degrees (0, 90, 180, 270) and, for a front camera (`mirrored`), flipped left to right.
// RGB or RGBA kept. Bit for bit what Android's segcore Orientation.upright gives.
Image upright(const ImageView& frame, int rotation_degrees, bool mirrored, std::optional<Crop> crop = std::nullopt);

// Whether two cards describe the same model (file and classes): only then do mask ids mean the same.
bool same_model(const ModelCard& a, const ModelCard& b);

// A mask kept with the model that made it and the image it was made for.
struct LabelledMask {
  ModelCard card;
  Image image;
  Mask mask;  // at image size
};

// A redraw: the RGBA overlay, or (empty rgba) why it was refused.
struct Recoloured {
  std::vector<uint8_t> rgba;
  std::string refused;
};
// The overlay of `shown` at `opacity` with `card`'s colours; refused (not thrown) when `card` is not
// the model that made the mask, as after a model switch.
Recoloured recolour(const LabelledMask& shown, const ModelCard& card, int opacity,
                    const std::optional<std::vector<int>>& only = std::nullopt);
// The mask itself, to save or share: each pixel its class's colour in the card that made it, opaque
// (colour_mask at opacity 255, every class), at image size.
std::vector<uint8_t> mask_colours(const LabelledMask& shown);

// Frames per second and mean inference time over the last `window` frames (a live preview's caption),
// as Android's segcore RateMeter.
class RateMeter {
 public:
  explicit RateMeter(int window = 30);  // throws Error below 2
  void add(int64_t end_nanos, double inference_ms);
  std::optional<double> fps() const;  // between the window's oldest and newest frame; none before 2
  std::optional<double> mean_inference_ms() const;
  void reset() { ends_.clear(), inference_.clear(); }

 private:
  size_t window_;
  std::vector<int64_t> ends_;  // oldest first
  std::vector<double> inference_;
};

// The class filter of each model (ids mean different things in different models), as Android's segcore
// ClassFilters: none = every class coloured; toggling a class off keeps the others; toggling the last
// hidden one back on returns to none.
class ClassFilters {
 public:
  std::optional<std::vector<int>> of(const ModelCard& card) const;  // ascending ids
  std::optional<std::vector<int>> toggle(const ModelCard& card, int class_id);  // throws Error for a bad id
  // What a cut-out keeps: the filter, or every class but those named "background".
  std::vector<int> cutout_classes(const ModelCard& card) const;

 private:
  std::map<std::string, std::vector<int>> by_model_;
};

}  // namespace segcore

#endif  // SEGCORE_SEGCORE_H_
