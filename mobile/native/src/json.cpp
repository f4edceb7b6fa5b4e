#include "segcore/json.h"

#include <cmath>
#include <locale>
#include <sstream>

#include "segcore/segcore.h"

namespace segcore {

class JsonParser {
 public:
  explicit JsonParser(const std::string& text) : text_(text) {}

  Json document() {
    Json value = parse_value(0);
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the JSON value");
    return value;
  }

 private:
  static constexpr int kMaxDepth = 64;

  [[noreturn]] void fail(const std::string& what) const {
    throw Error("JSON: " + what + " at byte " + std::to_string(pos_));
  }

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\r' ||
                                   text_[pos_] == '\t'))
      ++pos_;
  }

  bool consume(const char* literal) {
    size_t n = std::char_traits<char>::length(literal);
    if (text_.compare(pos_, n, literal) != 0) return false;
    pos_ += n;
    return true;
  }

  Json parse_value(int depth) {
    if (depth > kMaxDepth) fail("nesting deeper than 64");
    skip_space();
    if (pos_ >= text_.size()) fail("unexpected end of text");
    Json value;
    char c = text_[pos_];
    if (c == '{') {
      value.type_ = Json::Type::kObject;
      ++pos_;
      skip_space();
      if (pos_ < text_.size() && text_[pos_] == '}') {
        ++pos_;
        return value;
      }
      while (true) {
        skip_space();
        if (pos_ >= text_.size() || text_[pos_] != '"') fail("expected a string key");
        std::string key = parse_string();
        skip_space();
        if (pos_ >= text_.size() || text_[pos_] != ':') fail("expected ':'");
        ++pos_;
        value.object_[key] = parse_value(depth + 1);
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == ',') {
          ++pos_;
        } else if (pos_ < text_.size() && text_[pos_] == '}') {
          ++pos_;
          return value;
        } else {
          fail("expected ',' or '}'");
        }
      }
    }
    if (c == '[') {
      value.type_ = Json::Type::kArray;
      ++pos_;
      skip_space();
      if (pos_ < text_.size() && text_[pos_] == ']') {
        ++pos_;
        return value;
      }
      while (true) {
        value.array_.push_back(parse_value(depth + 1));
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == ',') {
          ++pos_;
        } else if (pos_ < text_.size() && text_[pos_] == ']') {
          ++pos_;
          return value;
        } else {
          fail("expected ',' or ']'");
        }
      }
    }
    if (c == '"') {
      value.type_ = Json::Type::kString;
      value.string_ = parse_string();
      return value;
    }
    if (consume("true")) {
      value.type_ = Json::Type::kBool;
      value.bool_ = true;
      return value;
    }
    if (consume("false")) {
      value.type_ = Json::Type::kBool;
      return value;
    }
    if (consume("null")) return value;
    if (c == '-' || (c >= '0' && c <= '9')) {
      value.type_ = Json::Type::kNumber;
      value.number_ = parse_number();
      return value;
    }
    fail(std::string("unexpected character '") + c + "'");
  }

  double parse_number() {
    size_t start = pos_;
    if (text_[pos_] == '-') ++pos_;
    auto digits = [&] {
      size_t first = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      if (pos_ == first) fail("malformed number");
    };
    digits();
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      digits();
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      digits();
    }
    // Correctly rounded decimal -> double, independent of the C locale's decimal point.
    std::istringstream stream(text_.substr(start, pos_ - start));
    stream.imbue(std::locale::classic());
    double number = 0;
    stream >> number;
    if (stream.fail() || !std::isfinite(number)) fail("number out of range");
    return number;
  }

  unsigned parse_hex4() {
    if (pos_ + 4 > text_.size()) fail("truncated \\u escape");
    unsigned code = 0;
    for (int i = 0; i < 4; ++i) {
      char h = text_[pos_++];
      code <<= 4;
      if (h >= '0' && h <= '9') code |= h - '0';
      else if (h >= 'a' && h <= 'f') code |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') code |= h - 'A' + 10;
      else fail("bad hex digit in \\u escape");
    }
    return code;
  }

  static void append_utf8(std::string& out, unsigned code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }

  std::string parse_string() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) fail("unterminated string");
      char c = text_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) fail("unterminated escape");
      char e = text_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned code = parse_hex4();
          if (code >= 0xD800 && code < 0xDC00) {
            if (!consume("\\u")) fail("unpaired surrogate");
            unsigned low = parse_hex4();
            if (low < 0xDC00 || low >= 0xE000) fail("unpaired surrogate");
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          } else if (code >= 0xDC00 && code < 0xE000) {
            fail("unpaired surrogate");
          }
          append_utf8(out, code);
          break;
        }
        default: fail(std::string("bad escape \\") + e);
      }
    }
  }

  const std::string& text_;
  size_t pos_ = 0;
};

Json Json::parse(const std::string& text) { return JsonParser(text).document(); }

static const char* type_name(Json::Type type) {
  switch (type) {
    case Json::Type::kNull: return "null";
    case Json::Type::kBool: return "a boolean";
    case Json::Type::kNumber: return "a number";
    case Json::Type::kString: return "a string";
    case Json::Type::kArray: return "an array";
    case Json::Type::kObject: return "an object";
  }
  return "?";
}

static void expect(const Json& value, Json::Type type, const std::string& where) {
  if (value.type() != type)
    throw Error(where + " must be " + type_name(type) + ", got " + type_name(value.type()));
}

bool Json::has(const std::string& key) const { return type_ == Type::kObject && object_.count(key) > 0; }

const Json& Json::at(const std::string& key, const std::string& where) const {
  expect(*this, Type::kObject, where);
  auto found = object_.find(key);
  if (found == object_.end()) throw Error(where + " has no key \"" + key + "\"");
  return found->second;
}

const Json& Json::at(size_t index, const std::string& where) const {
  expect(*this, Type::kArray, where);
  if (index >= array_.size())
    throw Error(where + " has " + std::to_string(array_.size()) + " items, asked for item " + std::to_string(index));
  return array_[index];
}

size_t Json::size(const std::string& where) const {
  expect(*this, Type::kArray, where);
  return array_.size();
}

double Json::number(const std::string& where) const {
  expect(*this, Type::kNumber, where);
  return number_;
}

int64_t Json::integer(const std::string& where) const {
  expect(*this, Type::kNumber, where);
  if (number_ != std::floor(number_) || std::fabs(number_) > 9007199254740992.0)
    throw Error(where + " must be an integer, got " + std::to_string(number_));
  return static_cast<int64_t>(number_);
}

bool Json::boolean(const std::string& where) const {
  expect(*this, Type::kBool, where);
  return bool_;
}

const std::string& Json::string(const std::string& where) const {
  expect(*this, Type::kString, where);
  return string_;
}

}  // namespace segcore
