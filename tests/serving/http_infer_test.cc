// The HTTP/REST inference body codec (server/inference/http_infer.h) and
// the protocol-message JSON (http_json.h): what tritonclient.http sends and
// reads, and every malformed body refused with a precise error.
#include "server/inference/http_infer.h"

#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/inference/http_json.h"
#include "server/inference/http_routes.h"

namespace fornax::serving {
namespace {

using ::testing::HasSubstr;

std::string Floats(std::initializer_list<float> values) {
  std::string out;
  for (float v : values) out.append(reinterpret_cast<const char*>(&v), sizeof(v));
  return out;
}

// The last binary input takes the body's buffer over (no copy: a large
// tensor is held once); the others are copied out of it, and a JSON input
// after it or an empty binary one last decode as usual.
TEST(HttpInferTest, TheLastBinaryInputTakesTheBodyOver) {
  const std::string json =
      R"({"inputs":[)"
      R"({"name":"a","datatype":"FP32","shape":[1,2],"parameters":{"binary_data_size":8}},)"
      R"({"name":"b","datatype":"FP32","shape":[1,64],"parameters":{"binary_data_size":256}},)"
      R"({"name":"c","datatype":"INT32","shape":[1],"data":[5]}]})";
  std::vector<float> b(64, 2.5f);
  std::string body = json + Floats({1, 2});
  body.append(reinterpret_cast<const char*>(b.data()), b.size() * sizeof(float));
  const char* buffer = body.data();
  absl::StatusOr<HttpInferRequest> decoded =
      DecodeHttpInferRequest(std::move(body), std::to_string(json.size()), "m", "");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  const inference::ModelInferRequest& request = decoded->request;
  ASSERT_EQ(request.raw_input_contents_size(), 3);
  EXPECT_EQ(request.raw_input_contents(0), Floats({1, 2}));
  EXPECT_EQ(request.raw_input_contents(1),
            std::string(reinterpret_cast<const char*>(b.data()), b.size() * sizeof(float)));
  EXPECT_EQ(request.raw_input_contents(1).data(), buffer) << "b's bytes were copied";
  EXPECT_EQ(request.raw_input_contents(2), std::string("\x05\0\0\0", 4));

  const std::string empty_last =
      R"({"inputs":[)"
      R"({"name":"a","datatype":"FP32","shape":[1,2],"parameters":{"binary_data_size":8}},)"
      R"({"name":"b","datatype":"FP32","shape":[1,0],"parameters":{"binary_data_size":0}}]})";
  decoded = DecodeHttpInferRequest(empty_last + Floats({1, 2}), std::to_string(empty_last.size()),
                                   "m", "");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->request.raw_input_contents(0), Floats({1, 2}));
  EXPECT_EQ(decoded->request.raw_input_contents(1), "");
}

TEST(HttpInferTest, BinaryInputsFollowTheJsonInOrder) {
  const std::string json =
      R"({"id":"r1","inputs":[)"
      R"({"name":"a","datatype":"FP32","shape":[1,2],"parameters":{"binary_data_size":8}},)"
      R"({"name":"b","datatype":"FP32","shape":[1,1],"parameters":{"binary_data_size":4}}],)"
      R"("parameters":{"binary_data_output":true,"priority":3}})";
  const std::string body = json + Floats({1, 2}) + Floats({3});
  absl::StatusOr<HttpInferRequest> decoded =
      DecodeHttpInferRequest(body, std::to_string(json.size()), "mlp", "2");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  const inference::ModelInferRequest& request = decoded->request;
  EXPECT_EQ(request.model_name(), "mlp");
  EXPECT_EQ(request.model_version(), "2");
  EXPECT_EQ(request.id(), "r1");
  ASSERT_EQ(request.inputs_size(), 2);
  EXPECT_EQ(request.inputs(1).name(), "b");
  EXPECT_THAT(request.inputs(0).shape(), ::testing::ElementsAre(1, 2));
  EXPECT_EQ(request.raw_input_contents(0), Floats({1, 2}));
  EXPECT_EQ(request.raw_input_contents(1), Floats({3}));
  EXPECT_TRUE(decoded->binary_default);
  EXPECT_EQ(request.parameters().at("priority").int64_param(), 3);
  EXPECT_FALSE(request.parameters().contains("binary_data_output"));
}

TEST(HttpInferTest, JsonDataOfEveryDatatypeBecomesRawBytes) {
  const std::string body = R"({"inputs":[
      {"name":"f","datatype":"FP32","shape":[2,2],"data":[[1.5,-2],[0,3]]},
      {"name":"i","datatype":"INT32","shape":[2],"data":[-7,2147483647]},
      {"name":"l","datatype":"INT64","shape":[1],"data":[-9000000000]},
      {"name":"u","datatype":"UINT8","shape":[2],"data":[0,255]},
      {"name":"b","datatype":"BOOL","shape":[3],"data":[true,false,true]},
      {"name":"h","datatype":"FP16","shape":[1],"data":[1.0]},
      {"name":"bf","datatype":"BF16","shape":[1],"data":[-2.0]}]})";
  absl::StatusOr<HttpInferRequest> decoded = DecodeHttpInferRequest(body, std::nullopt, "m", "");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  const auto& raw = decoded->request.raw_input_contents();
  EXPECT_EQ(raw[0], Floats({1.5, -2, 0, 3}));
  int32_t ints[2];
  std::memcpy(ints, raw[1].data(), sizeof(ints));
  EXPECT_EQ(ints[0], -7);
  EXPECT_EQ(ints[1], 2147483647);
  int64_t big;
  std::memcpy(&big, raw[2].data(), sizeof(big));
  EXPECT_EQ(big, -9000000000);
  EXPECT_EQ(raw[3], std::string("\x00\xff", 2));
  EXPECT_EQ(raw[4], std::string("\x01\x00\x01", 3));
  EXPECT_EQ(raw[5], std::string("\x00\x3c", 2));  // 1.0 in IEEE half
  EXPECT_EQ(raw[6], std::string("\x00\xc0", 2));  // -2.0 in bfloat16
  EXPECT_FALSE(decoded->binary_default);
}

TEST(HttpInferTest, MalformedBodiesNameTheFieldAndWhatWasExpected) {
  const std::string bin = R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1,2],)"
                          R"("parameters":{"binary_data_size":8}}]})";
  struct Case {
    std::string body;
    std::optional<std::string> header;
    std::string error;
  } cases[] = {
      {"{", std::nullopt, "the inference request is not valid JSON"},
      {"[1]", std::nullopt, "the inference request must be a JSON object, got array"},
      {"{}", std::nullopt, "'inputs' must be an array, got nothing"},
      {R"({"inputs":[3]})", std::nullopt, "inputs[0]: expected an object with a string 'name'"},
      {R"({"inputs":[{"name":"x","shape":[1]}]})", std::nullopt,
       "input 'x': expected a string 'datatype'"},
      {R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1,-2],"data":[1]}]})", std::nullopt,
       "input 'x': 'shape' must be an array of non-negative integers, got array"},
      {R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1]}]})", std::nullopt,
       "input 'x': no 'data' and no 'binary_data_size' parameter"},
      {R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1,3],"data":[1,2]}]})", std::nullopt,
       "input 'x': shape [1,3] needs 3 elements, 'data' has 2"},
      {R"({"inputs":[{"name":"x","datatype":"FP32","shape":[4294967296,4294967296],"data":[1]}]})",
       std::nullopt,
       "input 'x': shape [4294967296,4294967296] needs over 2^63 elements, 'data' has 1"},
      {R"({"inputs":[{"name":"x","datatype":"FP32","shape":[2],"data":[1,"a"]}]})", std::nullopt,
       "input 'x': 'data' FP32 element 1: expected a number, got \"a\""},
      {R"({"inputs":[{"name":"x","datatype":"UINT8","shape":[1],"data":[256]}]})", std::nullopt,
       "input 'x': 'data' UINT8 element 0: expected an integer in 0..255, got 256"},
      {R"({"inputs":[{"name":"x","datatype":"INT32","shape":[1],"data":[1.5]}]})", std::nullopt,
       "input 'x': 'data' INT32 element 0: expected an integer in -2147483648..2147483647, got "
       "1.5"},
      {R"({"inputs":[{"name":"x","datatype":"BOOL","shape":[1],"data":[1]}]})", std::nullopt,
       "input 'x': 'data' BOOL element 0: expected true or false, got 1"},
      {R"({"inputs":[{"name":"x","datatype":"FP64","shape":[1],"data":[1]}]})", std::nullopt,
       "input 'x': datatype 'FP64' is not supported"},
      {R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":)" + std::string(40, '[') +
           "1" + std::string(40, ']') + "}]}",
       std::nullopt, "input 'x': 'data' FP32 arrays nested deeper than 32 levels"},
      {bin, std::nullopt, "input 'x': binary_data_size is 8 but only 0 bytes"},
      {bin + Floats({1}), std::to_string(bin.size()),
       "input 'x': binary_data_size is 8 but only 4 bytes of binary data are left"},
      {bin + Floats({1, 2, 3}), std::to_string(bin.size()),
       "4 bytes of binary data follow the inputs' binary_data_size total of 8"},
      {bin, "x12", "Inference-Header-Content-Length must be an integer in 0.."},
      {bin, "100000", "Inference-Header-Content-Length must be an integer in 0.."},
      {R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1],)"
       R"("parameters":{"binary_data_size":4}}]})",
       std::nullopt, "input 'x': has both 'data' and the 'binary_data_size' parameter"},
      {R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],)"
       R"("parameters":{"binary_data_size":-4}}]})",
       std::nullopt, "input 'x': 'binary_data_size' must be a non-negative integer, got -4"},
      {R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1],)"
       R"("parameters":{"shared_memory_region":"r","shared_memory_byte_size":4}}]})",
       std::nullopt, "input 'x': has shared memory parameters and also 'data'"},
      {R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],)"
       R"("parameters":{"shared_memory_region":"r","binary_data_size":4}}]})",
       std::nullopt,
       "input 'x': has shared memory parameters and also the 'binary_data_size' parameter"},
      {R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],)"
       R"("parameters":{"shared_memory_region":["r"]}}]})",
       std::nullopt,
       "input 'x': parameter 'shared_memory_region': expected a string, number or boolean, got "
       "array"},
      {R"({"inputs":[],"outputs":[{"name":"y","parameters":{"shared_memory_offset":{}}}]})",
       std::nullopt,
       "output 'y': parameter 'shared_memory_offset': expected a string, number or boolean, got "
       "object"},
      {R"({"inputs":[],"outputs":[{"name":"y","parameters":{"classification":[3]}}]})",
       std::nullopt,
       "output 'y': parameter 'classification': expected a string, number or boolean, got array"},
      {R"({"inputs":[],"outputs":[{"name":"y","parameters":{"binary_data":1}}]})", std::nullopt,
       "output 'y': 'binary_data' must be true or false, got 1"},
      {R"({"inputs":[],"outputs":{}})", std::nullopt, "'outputs' must be an array, got object"},
      {R"({"inputs":[],"parameters":{"binary_data_output":"yes"}})", std::nullopt,
       "parameter 'binary_data_output': expected true or false, got \"yes\""},
      {R"({"inputs":[],"parameters":{"p":[1]}})", std::nullopt,
       "parameter 'p': expected a string, number or boolean, got array"},
      {R"({"id":7,"inputs":[]})", std::nullopt, "'id' must be a string, got 7"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<HttpInferRequest> decoded = DecodeHttpInferRequest(c.body, c.header, "m", "");
    ASSERT_FALSE(decoded.ok()) << c.body;
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument) << c.body;
    EXPECT_THAT(std::string(decoded.status().message()), HasSubstr(c.error)) << c.body;
  }
}

// The JSON part has its own limit (kMaxJsonBytes, 64 MiB), below the body's:
// refused with ResourceExhausted (HTTP 413) naming it, before parsing; the
// binary data after the JSON does not count.
TEST(HttpInferTest, JsonPartOverItsLimitIsRefusedNamingTheLimit) {
  // Spaces keep the JSON cheap to parse at the limit.
  const std::string object = R"({"inputs":[]})";
  const std::string over = object + std::string(kMaxJsonBytes + 1 - object.size(), ' ');
  for (const auto& [body, header] :
       {std::pair<std::string, std::optional<std::string>>{over, std::nullopt},
        {over + Floats({1}), std::to_string(over.size())}}) {
    absl::StatusOr<HttpInferRequest> decoded = DecodeHttpInferRequest(body, header, "m", "");
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_EQ(HttpCode(decoded.status()), 413);
    EXPECT_THAT(std::string(decoded.status().message()),
                HasSubstr(absl::StrCat("the inference request has ", kMaxJsonBytes + 1,
                                       " bytes of JSON; at most 67108864 (64 MiB)")));
  }
  // At the limit it is decoded.
  absl::StatusOr<HttpInferRequest> decoded =
      DecodeHttpInferRequest(over.substr(0, kMaxJsonBytes), std::nullopt, "m", "");
  EXPECT_TRUE(decoded.ok()) << decoded.status();
}

// Random bytes and random cuts of a valid body: every one is answered with
// OK or InvalidArgument, never a crash (run under ASan in the fuzz build).
TEST(HttpInferTest, GarbledBodiesAreRefusedNotCrashedOn) {
  const std::string valid = R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1,2],)"
                            R"("parameters":{"binary_data_size":8}}],)"
                            R"("outputs":[{"name":"y","parameters":{"binary_data":true}}]})";
  const std::string body = valid + Floats({1, 2});
  std::mt19937 random(7);
  for (int i = 0; i < 2000; ++i) {
    std::string garbled = body;
    const int flips = 1 + static_cast<int>(random() % 4);
    for (int f = 0; f < flips; ++f) {
      garbled[random() % garbled.size()] = static_cast<char>(random() % 256);
    }
    garbled.resize(random() % (garbled.size() + 1));
    const std::string header = std::to_string(random() % (valid.size() + 12));
    absl::StatusOr<HttpInferRequest> decoded = DecodeHttpInferRequest(garbled, header, "m", "");
    if (!decoded.ok()) {
      EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_FALSE(DumpJson({{"error", std::string(decoded.status().message())}}).empty());
    }
  }
}

TEST(HttpInferTest, ResponseOutputsAreJsonOrBinaryAsAsked) {
  inference::ModelInferResponse response;
  response.set_model_name("mlp");
  response.set_model_version("1");
  for (const char* name : {"p", "q"}) {
    auto* output = response.add_outputs();
    output->set_name(name);
    output->set_datatype("FP32");
    output->add_shape(1);
    output->add_shape(2);
    response.add_raw_output_contents(Floats({0.5, -1}));
  }
  HttpInferRequest request;
  request.binary_outputs["q"] = true;
  HttpInferResponse encoded = EncodeHttpInferResponse(response, request);
  ASSERT_TRUE(encoded.json_length.has_value());
  const nlohmann::json json = nlohmann::json::parse(encoded.body.substr(0, *encoded.json_length));
  EXPECT_EQ(json["model_name"], "mlp");
  EXPECT_EQ(json["model_version"], "1");
  EXPECT_FALSE(json.contains("id"));
  EXPECT_EQ(json["outputs"][0]["data"], nlohmann::json({0.5, -1.0}));
  EXPECT_EQ(json["outputs"][0]["shape"], nlohmann::json({1, 2}));
  EXPECT_EQ(json["outputs"][1]["parameters"]["binary_data_size"], 8);
  EXPECT_FALSE(json["outputs"][1].contains("data"));
  EXPECT_EQ(encoded.body.substr(*encoded.json_length), Floats({0.5, -1}));

  request.binary_outputs.clear();
  encoded = EncodeHttpInferResponse(response, request);
  EXPECT_FALSE(encoded.json_length.has_value());  // all JSON: no binary part
}

// Shared memory parameters pass to the protocol request (DecodeInferRequest
// checks them); such an input has no raw entry, so the raw entries pair with
// the other inputs, as in Triton's gRPC requests.
TEST(HttpInferTest, SharedMemoryParametersPassThroughWithoutRawEntries) {
  const std::string body = R"({"inputs":[
      {"name":"a","datatype":"FP32","shape":[1,2],"parameters":
          {"shared_memory_region":"in","shared_memory_byte_size":8,"shared_memory_offset":16}},
      {"name":"b","datatype":"FP32","shape":[1],"data":[3]}],
      "outputs":[{"name":"y","parameters":
          {"shared_memory_region":"out","shared_memory_byte_size":12,"binary_data":false}}]})";
  absl::StatusOr<HttpInferRequest> decoded = DecodeHttpInferRequest(body, std::nullopt, "m", "");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  const inference::ModelInferRequest& request = decoded->request;
  ASSERT_EQ(request.inputs_size(), 2);
  const auto& a = request.inputs(0).parameters();
  EXPECT_EQ(a.at("shared_memory_region").string_param(), "in");
  EXPECT_EQ(a.at("shared_memory_byte_size").int64_param(), 8);
  EXPECT_EQ(a.at("shared_memory_offset").int64_param(), 16);
  EXPECT_TRUE(request.inputs(1).parameters().empty());
  ASSERT_EQ(request.raw_input_contents_size(), 1);
  EXPECT_EQ(request.raw_input_contents(0), Floats({3}));
  ASSERT_EQ(request.outputs_size(), 1);
  const auto& y = request.outputs(0).parameters();
  EXPECT_EQ(y.at("shared_memory_region").string_param(), "out");
  EXPECT_EQ(y.at("shared_memory_byte_size").int64_param(), 12);
  EXPECT_FALSE(y.contains("binary_data"));
}

// An output written to shared memory comes back with neither data nor
// binary data (Triton's answer); the others as asked.
TEST(HttpInferTest, SharedMemoryOutputsHaveNoDataInTheResponse) {
  absl::StatusOr<HttpInferRequest> request = DecodeHttpInferRequest(
      R"({"inputs":[],"outputs":[
          {"name":"p","parameters":{"shared_memory_region":"out","shared_memory_byte_size":8}},
          {"name":"q","parameters":{"binary_data":true}}]})",
      std::nullopt, "m", "");
  ASSERT_TRUE(request.ok()) << request.status();
  inference::ModelInferResponse response;
  for (const char* name : {"p", "q"}) {
    auto* output = response.add_outputs();
    output->set_name(name);
    output->set_datatype("FP32");
    output->add_shape(1);
    output->add_shape(2);
  }
  response.add_raw_output_contents();  // p: in shared memory (EncodeInferResponse)
  response.add_raw_output_contents(Floats({0.5, -1}));
  HttpInferResponse encoded = EncodeHttpInferResponse(response, *request);
  ASSERT_TRUE(encoded.json_length.has_value());
  const nlohmann::json json = nlohmann::json::parse(encoded.body.substr(0, *encoded.json_length));
  EXPECT_EQ(json["outputs"][0],
            nlohmann::json({{"name", "p"}, {"datatype", "FP32"}, {"shape", {1, 2}}}));
  EXPECT_EQ(json["outputs"][1]["parameters"]["binary_data_size"], 8);
  EXPECT_EQ(encoded.body.substr(*encoded.json_length), Floats({0.5, -1}));
}

// The classification parameter passes to the protocol request
// (DecodeInferRequest checks it, as over gRPC); the BYTES output of classes
// goes back as JSON strings, or as binary data in the raw form.
TEST(HttpInferTest, ClassificationPassesThroughAndClassesComeBackAsStrings) {
  const std::string body = R"({"inputs":[],"outputs":[
      {"name":"y","parameters":{"classification":2,"binary_data":false}},
      {"name":"z","parameters":{"classification":1,"binary_data":true}}]})";
  absl::StatusOr<HttpInferRequest> request = DecodeHttpInferRequest(body, std::nullopt, "m", "");
  ASSERT_TRUE(request.ok()) << request.status();
  ASSERT_EQ(request->request.outputs_size(), 2);
  EXPECT_EQ(request->request.outputs(0).parameters().at("classification").int64_param(), 2);
  EXPECT_EQ(request->request.outputs(1).parameters().at("classification").int64_param(), 1);

  inference::ModelInferResponse response;
  for (const std::string name : {"y", "z"}) {
    auto* output = response.add_outputs();
    output->set_name(name);
    output->set_datatype("BYTES");
    output->add_shape(1);
    output->add_shape(name == "y" ? 2 : 1);
  }
  std::string y;
  for (const std::string text : {"0.750000:2", "0.500000:0"}) {
    const uint32_t length = static_cast<uint32_t>(text.size());
    y.append(reinterpret_cast<const char*>(&length), 4).append(text);
  }
  const std::string z = std::string("\x04\0\0\0", 4) + "7:11";
  response.add_raw_output_contents(y);
  response.add_raw_output_contents(z);
  HttpInferResponse encoded = EncodeHttpInferResponse(response, *request);
  ASSERT_TRUE(encoded.json_length.has_value());
  const nlohmann::json json = nlohmann::json::parse(encoded.body.substr(0, *encoded.json_length));
  EXPECT_EQ(json["outputs"][0]["datatype"], "BYTES");
  EXPECT_EQ(json["outputs"][0]["data"], nlohmann::json({"0.750000:2", "0.500000:0"}));
  EXPECT_EQ(json["outputs"][1]["parameters"]["binary_data_size"], 8);
  EXPECT_EQ(encoded.body.substr(*encoded.json_length), z);
}

TEST(HttpJsonTest, ProtoToJsonWritesNumbersEnumsAndOnlySetMessages) {
  inference::ModelConfig config;
  config.set_name("mlp");
  config.set_max_batch_size(64);
  auto* input = config.add_input();
  input->set_name("x");
  input->set_data_type(inference::TYPE_FP32);
  input->add_dims(784);
  config.mutable_version_policy()->mutable_latest()->set_num_versions(1);
  const nlohmann::json json = ProtoToJson(config);
  EXPECT_EQ(json["max_batch_size"], 64);
  EXPECT_EQ(json["input"][0]["data_type"], "TYPE_FP32");
  EXPECT_EQ(json["input"][0]["dims"], nlohmann::json({784}));  // int64: a number
  EXPECT_EQ(json["version_policy"], nlohmann::json({{"latest", {{"num_versions", 1}}}}));
  EXPECT_FALSE(json.contains("sequence_batching"));  // perf_analyzer reads its presence
  EXPECT_FALSE(json.contains("dynamic_batching"));
  EXPECT_EQ(json["platform"], "");  // primitives always present, as Triton's

  inference::ModelStatistics stats;
  stats.set_inference_count(uint64_t{1} << 40);
  stats.mutable_inference_stats()->mutable_queue()->set_ns(5);
  const nlohmann::json s = ProtoToJson(stats);
  EXPECT_TRUE(s["inference_count"].is_number_unsigned());
  EXPECT_EQ(s["inference_count"], uint64_t{1} << 40);
  EXPECT_EQ(s["inference_stats"]["queue"], nlohmann::json({{"count", 0}, {"ns", 5}}));
}

TEST(HttpJsonTest, DumpJsonReplacesBytesThatAreNotUtf8) {
  EXPECT_EQ(DumpJson({{"error", std::string("model '\xff'")}}),
            "{\"error\":\"model '\xef\xbf\xbd'\"}");
}

}  // namespace
}  // namespace fornax::serving
