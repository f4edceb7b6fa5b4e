// A small JSON reader (RFC 8259 values; numbers as double; \u escapes to UTF-8), enough for
// model cards and golden-case descriptions. Errors are segcore::Error with the byte offset.
#ifndef SEGCORE_JSON_H_
#define SEGCORE_JSON_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace segcore {

class Json {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  static Json parse(const std::string& text);  // the whole text must be one value

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool has(const std::string& key) const;  // an object with that key (even if null)

  // Typed access; `where` names the value in error messages (e.g. "card.input.height").
  const Json& at(const std::string& key, const std::string& where) const;
  const Json& at(size_t index, const std::string& where) const;
  size_t size(const std::string& where) const;  // of an array
  double number(const std::string& where) const;
  int64_t integer(const std::string& where) const;  // a number without fraction
  bool boolean(const std::string& where) const;
  const std::string& string(const std::string& where) const;

 private:
  friend class JsonParser;
  Type type_ = Type::kNull;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<Json> array_;
  std::map<std::string, Json> object_;
};

}  // namespace segcore

#endif  // SEGCORE_JSON_H_
