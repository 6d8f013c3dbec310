#include "server/inference/http_json.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"

namespace fornax::serving {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Element `index` of repeated field `field`, or the singular value when
// index is -1.
nlohmann::json FieldValue(const Message& message, const FieldDescriptor* field, int index) {
  const Reflection* r = message.GetReflection();
  const bool repeated = index >= 0;
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return repeated ? r->GetRepeatedInt32(message, field, index) : r->GetInt32(message, field);
    case FieldDescriptor::CPPTYPE_INT64:
      return repeated ? r->GetRepeatedInt64(message, field, index) : r->GetInt64(message, field);
    case FieldDescriptor::CPPTYPE_UINT32:
      return repeated ? r->GetRepeatedUInt32(message, field, index) : r->GetUInt32(message, field);
    case FieldDescriptor::CPPTYPE_UINT64:
      return repeated ? r->GetRepeatedUInt64(message, field, index) : r->GetUInt64(message, field);
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return repeated ? r->GetRepeatedDouble(message, field, index) : r->GetDouble(message, field);
    case FieldDescriptor::CPPTYPE_FLOAT:
      return repeated ? r->GetRepeatedFloat(message, field, index) : r->GetFloat(message, field);
    case FieldDescriptor::CPPTYPE_BOOL:
      return repeated ? r->GetRepeatedBool(message, field, index) : r->GetBool(message, field);
    case FieldDescriptor::CPPTYPE_ENUM:
      return std::string(repeated ? r->GetRepeatedEnum(message, field, index)->name()
                                  : r->GetEnum(message, field)->name());
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string value =
          repeated ? r->GetRepeatedString(message, field, index) : r->GetString(message, field);
      // bytes are base64 in protobuf's JSON mapping, as here.
      if (field->type() == FieldDescriptor::TYPE_BYTES) return absl::Base64Escape(value);
      return value;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return ProtoToJson(repeated ? r->GetRepeatedMessage(message, field, index)
                                  : r->GetMessage(message, field));
  }
  return nullptr;
}

// A map field (a repeated entry message with `key` and `value`) as an
// object keyed by the key's text.
nlohmann::json MapValue(const Message& message, const FieldDescriptor* field) {
  const Reflection* r = message.GetReflection();
  nlohmann::json out = nlohmann::json::object();
  const FieldDescriptor* key = field->message_type()->map_key();
  const FieldDescriptor* value = field->message_type()->map_value();
  for (int i = 0; i < r->FieldSize(message, field); ++i) {
    const Message& entry = r->GetRepeatedMessage(message, field, i);
    const nlohmann::json k = FieldValue(entry, key, -1);
    out[k.is_string() ? k.get<std::string>() : k.dump()] = FieldValue(entry, value, -1);
  }
  return out;
}

}  // namespace

nlohmann::json ProtoToJson(const Message& message) {
  const google::protobuf::Descriptor* descriptor = message.GetDescriptor();
  const Reflection* r = message.GetReflection();
  nlohmann::json out = nlohmann::json::object();
  for (int f = 0; f < descriptor->field_count(); ++f) {
    const FieldDescriptor* field = descriptor->field(f);
    if (field->is_map()) {
      out[field->name()] = MapValue(message, field);
    } else if (field->is_repeated()) {
      nlohmann::json values = nlohmann::json::array();
      for (int i = 0; i < r->FieldSize(message, field); ++i) {
        values.push_back(FieldValue(message, field, i));
      }
      out[field->name()] = std::move(values);
    } else if (r->HasField(message, field) ||
               (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE &&
                field->real_containing_oneof() == nullptr)) {
      out[field->name()] = FieldValue(message, field, -1);
    }
  }
  return out;
}

absl::StatusOr<nlohmann::json> ParseJson(std::string_view text, std::string_view what) {
  if (text.size() > kMaxJsonBytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat(std::string(what), " has ", text.size(), " bytes of JSON; at most ",
                     kMaxJsonBytes, " (64 MiB) are accepted: send large tensors as binary data"));
  }
  // nlohmann reports where and why only through its exception; it is
  // caught here and never leaves this function.
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(what), " is not valid JSON: ", e.what()));
  }
}

std::string DumpJson(const nlohmann::json& json) {
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace fornax::serving
