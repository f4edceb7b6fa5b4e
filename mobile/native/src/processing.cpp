// Pre- and post-processing, bit-exact with mobile/contract/algorithms.py (README sections 1-5).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>

#include "segcore/segcore.h"

namespace segcore {
namespace {

constexpr int kQBits = 11;
constexpr int64_t kQ = int64_t{1} << kQBits;

struct Tap {
  int first, second;
  int64_t weight;  // of `second`, 0..kQ-1
};

std::vector<Tap> bilinear_taps(int size_in, int size_out) {
  std::vector<Tap> taps(size_out);
  for (int i = 0; i < size_out; ++i) {
    int64_t t = std::max<int64_t>(0, (2 * int64_t{i} + 1) * size_in * kQ - int64_t{size_out} * kQ);
    int64_t s = t / (2 * int64_t{size_out});
    int first = static_cast<int>(std::min<int64_t>(s / kQ, size_in - 1));
    taps[i] = {first, std::min(first + 1, size_in - 1), s % kQ};
  }
  return taps;
}

std::vector<int> nearest_taps(int size_in, int size_out) {
  std::vector<int> taps(size_out);
  for (int i = 0; i < size_out; ++i)
    taps[i] = static_cast<int>(std::min<int64_t>((2 * int64_t{i} + 1) * size_in / (2 * int64_t{size_out}), size_in - 1));
  return taps;
}

void check_image(const ImageView& image) {
  if (image.data == nullptr) throw Error("image has no pixels (null data)");
  if (image.channels != 3 && image.channels != 4)
    throw Error("image must be RGB or RGBA (3 or 4 channels), got " + std::to_string(image.channels));
  if (image.height < 1 || image.width < 1)
    throw Error("image size must be positive, got " + std::to_string(image.height) + "x" + std::to_string(image.width));
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

template <typename T>
void argmax(const T* scores, int64_t pixels, int classes, uint8_t* ids) {
  for (int64_t p = 0; p < pixels; ++p) {
    const T* v = scores + p * classes;
    int best = 0;
    for (int c = 1; c < classes; ++c)
      if (v[c] > v[best]) best = c;  // strict: ties keep the lowest id
    ids[p] = static_cast<uint8_t>(best);
  }
}

template <typename T>
void copy_ids(const T* values, int64_t pixels, int classes, uint8_t* ids) {
  for (int64_t p = 0; p < pixels; ++p) {
    if (values[p] < 0 || values[p] >= classes)
      throw Error("mask output holds class id " + std::to_string(static_cast<long long>(values[p])) + " at pixel " +
                  std::to_string(p) + "; the card has " + std::to_string(classes) + " classes (ids 0.." +
                  std::to_string(classes - 1) + ")");
    ids[p] = static_cast<uint8_t>(values[p]);
  }
}

}  // namespace

Resize parse_resize(const std::string& name) {
  if (name == "stretch") return Resize::kStretch;
  if (name == "letterbox") return Resize::kLetterbox;
  throw Error("resize must be \"stretch\" or \"letterbox\", got \"" + name + "\"");
}

Box content_box(int image_height, int image_width, int height, int width, Resize resize) {
  if (std::min({image_height, image_width, height, width}) < 1)
    throw Error("content_box: sizes must be positive");
  if (resize == Resize::kStretch) return {0, 0, height, width};
  int64_t ih = image_height, iw = image_width, h = height, w = width;
  int64_t ch, cw;
  if (w * ih <= h * iw) {
    cw = w;
    ch = std::max<int64_t>(1, (ih * w + iw / 2) / iw);
  } else {
    ch = h;
    cw = std::max<int64_t>(1, (iw * h + ih / 2) / ih);
  }
  return {static_cast<int>((h - ch) / 2), static_cast<int>((w - cw) / 2), static_cast<int>(ch), static_cast<int>(cw)};
}

void resize_bilinear(const uint8_t* src, int src_height, int src_width, int src_channels, uint8_t* dst,
                     int dst_height, int dst_width, int dst_row_stride) {
  const std::vector<Tap> rows = bilinear_taps(src_height, dst_height);
  const std::vector<Tap> cols = bilinear_taps(src_width, dst_width);
  const int64_t src_stride = int64_t{src_width} * src_channels;
  for (int y = 0; y < dst_height; ++y) {
    const Tap& ty = rows[y];
    const uint8_t* r0 = src + ty.first * src_stride;
    const uint8_t* r1 = src + ty.second * src_stride;
    uint8_t* out = dst + int64_t{y} * dst_row_stride;
    for (int x = 0; x < dst_width; ++x) {
      const Tap& tx = cols[x];
      for (int c = 0; c < 3; ++c) {
        int64_t a = r0[tx.first * src_channels + c], b = r0[tx.second * src_channels + c];
        int64_t d = r1[tx.first * src_channels + c], e = r1[tx.second * src_channels + c];
        int64_t top = a * (kQ - tx.weight) + b * tx.weight;
        int64_t bottom = d * (kQ - tx.weight) + e * tx.weight;
        out[x * 3 + c] =
            static_cast<uint8_t>((top * (kQ - ty.weight) + bottom * ty.weight + (int64_t{1} << (2 * kQBits - 1))) >>
                                 (2 * kQBits));
      }
    }
  }
}

Resized resize_pixels(const ImageView& image, int height, int width, Resize resize, uint8_t pad) {
  check_image(image);
  Resized result;
  result.box = content_box(image.height, image.width, height, width, resize);
  result.rgb.assign(static_cast<size_t>(height) * width * 3, pad);
  const Box& b = result.box;
  resize_bilinear(image.data, image.height, image.width, image.channels,
                  result.rgb.data() + (static_cast<size_t>(b.top) * width + b.left) * 3, b.height, b.width, width * 3);
  return result;
}

std::vector<uint8_t> to_input_tensor(const std::vector<uint8_t>& rgb, const InputSpec& input) {
  const size_t count = static_cast<size_t>(input.height) * input.width * 3;
  if (rgb.size() != count)
    throw Error("resized pixels hold " + std::to_string(rgb.size()) + " values, the input needs " +
                std::to_string(count));
  if (input.dtype == DType::kUInt8) return rgb;
  if (input.dtype != DType::kFloat32 && input.dtype != DType::kInt8)
    throw Error(std::string("input dtype must be uint8, float32 or int8, got ") + dtype_name(input.dtype));
  float mean[3], stdev[3];
  for (int c = 0; c < 3; ++c) {
    mean[c] = static_cast<float>(input.mean[c]);
    stdev[c] = static_cast<float>(input.std[c]);
  }
  std::vector<uint8_t> out(count * dtype_size(input.dtype));
  if (input.dtype == DType::kFloat32) {
    for (size_t i = 0; i < count; ++i) {
      float x = (static_cast<float>(rgb[i]) - mean[i % 3]) / stdev[i % 3];
      std::memcpy(out.data() + i * 4, &x, 4);
    }
    return out;
  }
  if (!input.quantization) throw Error("an int8 input needs quantization (scale, zero_point)");
  const float scale = static_cast<float>(input.quantization->scale);
  for (size_t i = 0; i < count; ++i) {
    float x = (static_cast<float>(rgb[i]) - mean[i % 3]) / stdev[i % 3];
    float r = std::round(x / scale);  // halves away from zero, exact
    double q = std::clamp(static_cast<double>(r) + static_cast<double>(input.quantization->zero_point), -128.0, 127.0);
    out[i] = static_cast<uint8_t>(static_cast<int8_t>(q));
  }
  return out;
}

Mask output_to_mask(const void* data, size_t size_bytes, DType dtype, const std::vector<int64_t>& shape,
                    const std::string& kind, int num_classes) {
  if (data == nullptr) throw Error("model output has no data");
  if (num_classes < 1 || num_classes > 256) throw Error("the card must have 1..256 classes");
  bool scores = kind == "scores";
  if (!scores && kind != "mask") throw Error("output kind must be \"scores\" or \"mask\", got \"" + kind + "\"");
  bool mask_shape = shape.size() == 3 || (shape.size() == 4 && shape[3] == 1);
  if (scores ? (shape.size() != 4 || shape[3] != num_classes) : !mask_shape)
    throw Error("a " + kind + " output must be " +
                (scores ? "[1, H, W, " + std::to_string(num_classes) + "]" : std::string("[1, H, W]")) + ", got " +
                shape_string(shape));
  if (shape[0] != 1 || shape[1] < 1 || shape[2] < 1 || shape[1] > 16384 || shape[2] > 16384)
    throw Error("output shape " + shape_string(shape) + " must be batch 1 with a size of 1..16384");
  if (scores ? (dtype != DType::kFloat32 && dtype != DType::kUInt8 && dtype != DType::kInt8)
             : (dtype != DType::kUInt8 && dtype != DType::kInt32 && dtype != DType::kInt64))
    throw Error(std::string("a ") + kind + " output cannot be " + dtype_name(dtype) +
                (scores ? " (scores: float32, uint8, int8)" : " (mask: uint8, int32, int64)"));
  Mask mask;
  mask.height = static_cast<int>(shape[1]);
  mask.width = static_cast<int>(shape[2]);
  const int64_t pixels = int64_t{mask.height} * mask.width;
  const int64_t values = pixels * (scores ? num_classes : 1);
  if (size_bytes != static_cast<size_t>(values) * dtype_size(dtype))
    throw Error("output holds " + std::to_string(size_bytes) + " bytes, shape " + shape_string(shape) + " of " +
                dtype_name(dtype) + " needs " + std::to_string(values * dtype_size(dtype)));
  mask.ids.resize(pixels);
  switch (dtype) {
    case DType::kFloat32: {
      std::vector<float> v(values);
      std::memcpy(v.data(), data, size_bytes);
      for (float f : v)
        if (std::isnan(f)) throw Error("model output scores contain NaN");
      argmax(v.data(), pixels, num_classes, mask.ids.data());
      break;
    }
    case DType::kUInt8:
      if (scores) argmax(static_cast<const uint8_t*>(data), pixels, num_classes, mask.ids.data());
      else copy_ids(static_cast<const uint8_t*>(data), pixels, num_classes, mask.ids.data());
      break;
    case DType::kInt8: argmax(static_cast<const int8_t*>(data), pixels, num_classes, mask.ids.data()); break;
    case DType::kInt32: {
      std::vector<int32_t> v(values);
      std::memcpy(v.data(), data, size_bytes);
      copy_ids(v.data(), pixels, num_classes, mask.ids.data());
      break;
    }
    case DType::kInt64: {
      std::vector<int64_t> v(values);
      std::memcpy(v.data(), data, size_bytes);
      copy_ids(v.data(), pixels, num_classes, mask.ids.data());
      break;
    }
  }
  return mask;
}

namespace {

// `box` (model-input coordinates) scaled to the mask's size: top and left rounded down, bottom and right up.
Box box_in_mask(const Mask& mask, const Box& box, int input_height, int input_width) {
  const int64_t mh = mask.height, mw = mask.width;
  const int top = static_cast<int>(box.top * mh / input_height);
  const int left = static_cast<int>(box.left * mw / input_width);
  const int bottom = static_cast<int>(((box.top + box.height) * mh + input_height - 1) / input_height);
  const int right = static_cast<int>(((box.left + box.width) * mw + input_width - 1) / input_width);
  return {top, left, bottom - top, right - left};
}

}  // namespace

Mask mask_to_image(const Mask& mask, const Box& box, int input_height, int input_width, int image_height,
                   int image_width) {
  if (mask.height < 1 || mask.width < 1 || mask.ids.size() != static_cast<size_t>(mask.height) * mask.width)
    throw Error("mask_to_image: the mask is empty or its size does not match its pixels");
  if (image_height < 1 || image_width < 1 || input_height < 1 || input_width < 1)
    throw Error("mask_to_image: sizes must be positive");
  if (box.top < 0 || box.left < 0 || box.height < 1 || box.width < 1 || box.top + box.height > input_height ||
      box.left + box.width > input_width)
    throw Error("mask_to_image: the content box lies outside the input");
  const Box crop = box_in_mask(mask, box, input_height, input_width);
  const int top = crop.top, left = crop.left;
  const std::vector<int> rows = nearest_taps(crop.height, image_height);
  const std::vector<int> cols = nearest_taps(crop.width, image_width);
  Mask out;
  out.height = image_height;
  out.width = image_width;
  out.ids.resize(static_cast<size_t>(image_height) * image_width);
  for (int y = 0; y < image_height; ++y) {
    const uint8_t* row = mask.ids.data() + static_cast<size_t>(top + rows[y]) * mask.width + left;
    uint8_t* dst = out.ids.data() + static_cast<size_t>(y) * image_width;
    for (int x = 0; x < image_width; ++x) dst[x] = row[cols[x]];
  }
  return out;
}

Mask mask_crop(const Mask& mask, const Box& box, int input_height, int input_width) {
  if (input_height < 1 || input_width < 1) throw Error("mask_crop: sizes must be positive");
  const Box crop = box_in_mask(mask, box, input_height, input_width);
  // At the crop's own size the nearest-neighbour resize picks each pixel of the crop once.
  return mask_to_image(mask, box, input_height, input_width, crop.height, crop.width);
}

std::vector<uint8_t> colour_mask(const Mask& mask, const std::vector<ClassInfo>& classes, int opacity,
                                 const std::optional<std::vector<int>>& only) {
  if (opacity < 0 || opacity > 255) throw Error("opacity must be 0..255, got " + std::to_string(opacity));
  std::vector<uint8_t> palette(classes.size() * 4, 0);
  for (size_t k = 0; k < classes.size(); ++k) {
    const bool on = !only || std::find(only->begin(), only->end(), static_cast<int>(k)) != only->end();
    const int a = on ? opacity : 0;
    for (int c = 0; c < 3; ++c) palette[k * 4 + c] = static_cast<uint8_t>((classes[k].color[c] * a + 127) / 255);
    palette[k * 4 + 3] = static_cast<uint8_t>(a);
  }
  std::vector<uint8_t> out(mask.ids.size() * 4);
  for (size_t p = 0; p < mask.ids.size(); ++p) {
    if (mask.ids[p] >= classes.size())
      throw Error("colour_mask: class id " + std::to_string(mask.ids[p]) + " has no colour in the card");
    std::memcpy(&out[p * 4], &palette[mask.ids[p] * 4], 4);
  }
  return out;
}

namespace {

void check_mask_size(const ImageView& image, const Mask& mask, const char* what) {
  if (mask.height != image.height || mask.width != image.width)
    throw Error(std::string(what) + ": mask " + std::to_string(mask.height) + "x" + std::to_string(mask.width) +
                " is not the image's size " + std::to_string(image.height) + "x" + std::to_string(image.width));
}

}  // namespace

std::vector<uint8_t> overlay(const ImageView& image, const Mask& mask, const std::vector<ClassInfo>& classes,
                             int opacity, const std::optional<std::vector<int>>& only) {
  check_image(image);
  if (opacity < 0 || opacity > 255) throw Error("opacity must be 0..255, got " + std::to_string(opacity));
  check_mask_size(image, mask, "overlay");
  std::vector<int> alpha(classes.size(), only ? 0 : opacity);
  if (only)
    for (int id : *only)
      if (id >= 0 && static_cast<size_t>(id) < classes.size()) alpha[id] = opacity;
  const size_t pixels = static_cast<size_t>(image.height) * image.width;
  std::vector<uint8_t> out(pixels * 4);
  for (size_t p = 0; p < pixels; ++p) {
    if (mask.ids[p] >= classes.size())
      throw Error("overlay: class id " + std::to_string(mask.ids[p]) + " has no colour in the card");
    const uint8_t* colour = classes[mask.ids[p]].color;
    const int a = alpha[mask.ids[p]];
    for (int c = 0; c < 3; ++c)
      out[p * 4 + c] = static_cast<uint8_t>((image.data[p * image.channels + c] * (255 - a) + colour[c] * a + 127) / 255);
    out[p * 4 + 3] = 255;
  }
  return out;
}

std::vector<uint8_t> cutout(const ImageView& image, const Mask& mask, int num_classes, const std::vector<int>& keep) {
  check_image(image);
  check_mask_size(image, mask, "cutout");
  std::vector<bool> kept(static_cast<size_t>(std::max(num_classes, 0)), false);
  for (int id : keep)
    if (id >= 0 && id < num_classes) kept[id] = true;
  const size_t pixels = static_cast<size_t>(image.height) * image.width;
  std::vector<uint8_t> out(pixels * 4, 0);
  for (size_t p = 0; p < pixels; ++p) {
    if (mask.ids[p] >= kept.size())
      throw Error("cutout: class id " + std::to_string(mask.ids[p]) + "; there are " + std::to_string(num_classes) +
                  " classes");
    if (!kept[mask.ids[p]]) continue;
    std::memcpy(&out[p * 4], image.data + p * image.channels, 3);
    out[p * 4 + 3] = 255;
  }
  return out;
}

std::vector<ClassCount> classes_present(const Mask& mask) {
  int64_t counts[256] = {0};
  for (uint8_t id : mask.ids) ++counts[id];
  std::vector<ClassCount> present;
  for (int id = 0; id < 256; ++id)
    if (counts[id]) present.push_back({id, counts[id]});
  return present;
}

Image upright(const ImageView& frame, int rotation_degrees, bool mirrored, std::optional<Crop> crop) {
  if (rotation_degrees != 0 && rotation_degrees != 90 && rotation_degrees != 180 && rotation_degrees != 270)
    throw Error("rotation must be 0, 90, 180 or 270 degrees, got " + std::to_string(rotation_degrees));
  if (frame.height <= 0 || frame.width <= 0 || (frame.channels != 3 && frame.channels != 4) || !frame.data)
    throw Error("the frame must be RGB or RGBA with a positive size");
  const Crop c = crop.value_or(Crop{0, 0, frame.width, frame.height});
  if (c.width <= 0 || c.height <= 0 || c.left < 0 || c.top < 0 || c.left + c.width > frame.width ||
      c.top + c.height > frame.height)
    throw Error("crop " + std::to_string(c.left) + "," + std::to_string(c.top) + " " + std::to_string(c.width) + "x" +
                std::to_string(c.height) + " is not inside the " + std::to_string(frame.width) + "x" +
                std::to_string(frame.height) + " frame");
  const int turns = rotation_degrees / 90, w = c.width, h = c.height, ch = frame.channels;
  Image out;
  out.width = turns % 2 == 0 ? w : h;
  out.height = turns % 2 == 0 ? h : w;
  out.channels = ch;
  out.data.resize(static_cast<size_t>(out.width) * out.height * ch);
  uint8_t* o = out.data.data();
  for (int y = 0; y < out.height; ++y) {
    for (int xo = 0; xo < out.width; ++xo, o += ch) {
      const int x = mirrored ? out.width - 1 - xo : xo;
      int sx = x, sy = y;  // the source pixel of the crop that a clockwise turn puts at (x, y)
      if (turns == 1) sx = y, sy = h - 1 - x;
      if (turns == 2) sx = w - 1 - x, sy = h - 1 - y;
      if (turns == 3) sx = w - 1 - y, sy = x;
      const size_t from = (static_cast<size_t>(c.top + sy) * frame.width + c.left + sx) * ch;
      std::memcpy(o, frame.data + from, ch);
    }
  }
  return out;
}

bool same_model(const ModelCard& a, const ModelCard& b) {
  if (a.model_file != b.model_file || a.classes.size() != b.classes.size()) return false;
  for (size_t k = 0; k < a.classes.size(); ++k) {
    const ClassInfo &x = a.classes[k], &y = b.classes[k];
    if (x.name != y.name || !std::equal(x.color, x.color + 3, y.color)) return false;
  }
  return true;
}

Recoloured recolour(const LabelledMask& shown, const ModelCard& card, int opacity,
                     const std::optional<std::vector<int>>& only) {
  Recoloured result;
  if (!same_model(shown.card, card)) {
    result.refused = "the mask on screen was made by " + shown.card.name + " (" + shown.card.model_file + "), not by " +
                     card.name + " (" + card.model_file + "): run the model again";
    return result;
  }
  result.rgba = overlay(shown.image.view(), shown.mask, shown.card.classes, opacity, only);
  return result;
}

std::vector<uint8_t> mask_colours(const LabelledMask& shown) { return colour_mask(shown.mask, shown.card.classes, 255); }

std::optional<std::vector<int>> ClassFilters::of(const ModelCard& card) const {
  auto found = by_model_.find(card.model_file);
  if (found == by_model_.end()) return std::nullopt;
  return found->second;
}

std::optional<std::vector<int>> ClassFilters::toggle(const ModelCard& card, int class_id) {
  const int n = static_cast<int>(card.classes.size());
  if (class_id < 0 || class_id >= n)
    throw Error("class id " + std::to_string(class_id) + "; " + card.name + " has " + std::to_string(n) + " classes");
  std::vector<bool> on(n, true);
  if (auto current = of(card)) {
    on.assign(n, false);
    for (int id : *current) on[id] = true;
  }
  on[class_id] = !on[class_id];
  std::vector<int> next;
  for (int id = 0; id < n; ++id)
    if (on[id]) next.push_back(id);
  if (static_cast<int>(next.size()) == n)
    by_model_.erase(card.model_file);
  else
    by_model_[card.model_file] = next;
  return of(card);
}

std::vector<int> ClassFilters::cutout_classes(const ModelCard& card) const {
  if (auto current = of(card)) return *current;
  std::vector<int> keep;
  for (const ClassInfo& info : card.classes) {
    std::string lower = info.name;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower != "background") keep.push_back(info.id);
  }
  return keep;
}

RateMeter::RateMeter(int window) : window_(static_cast<size_t>(window)) {
  if (window < 2) throw Error("a rate needs a window of 2 frames or more, got " + std::to_string(window));
}

void RateMeter::add(int64_t end_nanos, double inference_ms) {
  if (ends_.size() == window_) ends_.erase(ends_.begin()), inference_.erase(inference_.begin());
  ends_.push_back(end_nanos);
  inference_.push_back(inference_ms);
}

std::optional<double> RateMeter::fps() const {
  if (ends_.size() < 2 || ends_.back() <= ends_.front()) return std::nullopt;
  return (ends_.size() - 1) * 1e9 / static_cast<double>(ends_.back() - ends_.front());
}

std::optional<double> RateMeter::mean_inference_ms() const {
  if (inference_.empty()) return std::nullopt;
  double sum = 0;
  for (double v : inference_) sum += v;
  return sum / inference_.size();
}

}  // namespace segcore
