// The model card reader (format deeplab_tf.model_card/1, see mobile/contract/README.md).
#include <fstream>
#include <sstream>

#include "segcore/json.h"
#include "segcore/segcore.h"

namespace segcore {

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kUInt8: return "uint8";
    case DType::kInt8: return "int8";
    case DType::kFloat32: return "float32";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
  }
  return "?";
}

DType parse_dtype(const std::string& name) {
  for (DType dtype : {DType::kUInt8, DType::kInt8, DType::kFloat32, DType::kInt32, DType::kInt64})
    if (name == dtype_name(dtype)) return dtype;
  throw Error("unknown dtype \"" + name + "\" (the contract knows uint8, int8, float32, int32, int64)");
}

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kUInt8:
    case DType::kInt8: return 1;
    case DType::kFloat32:
    case DType::kInt32: return 4;
    case DType::kInt64: return 8;
  }
  return 0;
}

static std::optional<Quantization> parse_quantization(const Json& value, const std::string& where) {
  if (value.is_null()) return std::nullopt;
  Quantization q;
  q.scale = value.at("scale", where).number(where + ".scale");
  q.zero_point = value.at("zero_point", where).integer(where + ".zero_point");
  if (!(q.scale > 0)) throw Error(where + ".scale must be positive");
  return q;
}

InputSpec parse_input_spec(const Json& input) {
  const std::string where = "card.input";
  InputSpec spec;
  spec.height = static_cast<int>(input.at("height", where).integer(where + ".height"));
  spec.width = static_cast<int>(input.at("width", where).integer(where + ".width"));
  if (spec.height < 1 || spec.width < 1 || spec.height > 16384 || spec.width > 16384)
    throw Error(where + " size must be 1..16384, got " + std::to_string(spec.height) + "x" + std::to_string(spec.width));
  if (input.at("channels", where).integer(where + ".channels") != 3) throw Error(where + ".channels must be 3");
  if (input.at("color", where).string(where + ".color") != "RGB") throw Error(where + ".color must be \"RGB\"");
  if (input.at("layout", where).string(where + ".layout") != "NHWC") throw Error(where + ".layout must be \"NHWC\"");
  spec.dtype = parse_dtype(input.at("dtype", where).string(where + ".dtype"));
  if (spec.dtype != DType::kUInt8 && spec.dtype != DType::kInt8 && spec.dtype != DType::kFloat32)
    throw Error(where + ".dtype must be uint8, int8 or float32, got " + dtype_name(spec.dtype));
  const Json& norm = input.at("normalization", where);
  for (const char* key : {"mean", "std"}) {
    const std::string w = where + ".normalization." + key;
    const Json& values = norm.at(key, where + ".normalization");
    if (values.size(w) != 3) throw Error(w + " must hold 3 numbers");
    for (size_t c = 0; c < 3; ++c) (key[0] == 'm' ? spec.mean : spec.std)[c] = values.at(c, w).number(w);
  }
  for (double s : spec.std)
    if (!(s > 0)) throw Error(where + ".normalization.std must be positive");
  spec.quantization = parse_quantization(input.at("quantization", where), where + ".quantization");
  if (spec.dtype == DType::kInt8 && !spec.quantization)
    throw Error(where + ": an int8 input needs quantization (scale, zero_point)");
  if (input.has("resize")) {
    const std::string& resize = input.at("resize", where).string(where + ".resize");
    try {
      spec.resize = parse_resize(resize);
    } catch (const Error& error) {
      throw Error(where + ": " + error.what());
    }
  }
  return spec;
}

ModelCard parse_model_card(const std::string& text) {
  Json card = Json::parse(text);
  const std::string where = "card";
  const std::string format = card.at("format", where).string("card.format");
  if (format != "deeplab_tf.model_card/1")
    throw Error("card.format must be \"deeplab_tf.model_card/1\", got \"" + format + "\"");
  ModelCard result;
  result.name = card.at("name", where).string("card.name");
  result.model_file = card.at("model_file", where).string("card.model_file");
  result.labels_file = card.at("labels_file", where).string("card.labels_file");
  result.input = parse_input_spec(card.at("input", where));

  const Json& output = card.at("output", where);
  result.output.kind = output.at("kind", "card.output").string("card.output.kind");
  if (result.output.kind != "scores" && result.output.kind != "mask")
    throw Error("card.output.kind must be \"scores\" or \"mask\", got \"" + result.output.kind + "\"");
  result.output.dtype = parse_dtype(output.at("dtype", "card.output").string("card.output.dtype"));
  const Json& shape = output.at("shape", "card.output");
  for (size_t i = 0; i < shape.size("card.output.shape"); ++i)
    result.output.shape.push_back(shape.at(i, "card.output.shape").integer("card.output.shape"));
  result.output.quantization = parse_quantization(output.at("quantization", "card.output"), "card.output.quantization");

  const Json& classes = card.at("classes", where);
  size_t count = classes.size("card.classes");
  if (count < 1 || count > 256) throw Error("card.classes must list 1..256 classes, got " + std::to_string(count));
  for (size_t i = 0; i < count; ++i) {
    const std::string w = "card.classes[" + std::to_string(i) + "]";
    const Json& entry = classes.at(i, "card.classes");
    ClassInfo info;
    info.id = static_cast<int>(entry.at("id", w).integer(w + ".id"));
    if (info.id != static_cast<int>(i)) throw Error(w + ".id must be " + std::to_string(i));
    info.name = entry.at("name", w).string(w + ".name");
    const Json& color = entry.at("color", w);
    if (color.size(w + ".color") != 3) throw Error(w + ".color must be [r, g, b]");
    for (size_t c = 0; c < 3; ++c) {
      int64_t v = color.at(c, w + ".color").integer(w + ".color");
      if (v < 0 || v > 255) throw Error(w + ".color values must be 0..255");
      info.color[c] = static_cast<uint8_t>(v);
    }
    result.classes.push_back(info);
  }
  return result;
}

ModelCard read_model_card(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error("model card " + path + " cannot be read (missing or not readable)");
  std::ostringstream text;
  text << file.rdbuf();
  try {
    return parse_model_card(text.str());
  } catch (const Error& error) {
    throw Error("model card " + path + ": " + error.what());
  }
}

}  // namespace segcore
