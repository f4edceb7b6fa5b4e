// Models and cards outside the contract get a segcore::Error naming the problem, never a crash
// or a mask (mobile/contract/README.md "Bad models").
#include "segcore/json.h"
#include "segcore/runner.h"
#include "testing.h"

using namespace segcore;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: test_bad_models CONTRACT_DIR\n";
    return 2;
  }
  const std::string contract = argv[1];
  // The contract's bad models and mismatched cards, with its messages (also Android's segcore ModelFile).
  const Json index = Json::parse(testing::read_text(contract + "/bad_models.json"));
  const Json& models = index.at("models", "bad_models");
  for (size_t i = 0; i < models.size("models"); ++i) {
    const Json& bad = models.at(i, "models");
    CHECK_THROWS(Runner::open(contract + "/" + bad.at("file", "models").string("file")),
                 bad.at("message", "models").string("message"));
  }
  for (const char* list : {"cards", "good"}) {
    const Json& pairs = index.at(list, "bad_models");
    for (size_t i = 0; i < pairs.size(list); ++i) {
      const Json& pair = pairs.at(i, list);
      std::unique_ptr<Runner> model = Runner::open(contract + "/" + pair.at("model", list).string("model"));
      const ModelCard card = read_model_card(contract + "/" + pair.at("card", list).string("card"));
      if (pair.has("message")) {
        CHECK_THROWS(model->check_card(card), pair.at("message", list).string("message"));
      } else {
        model->check_card(card);
      }
    }
  }
  CHECK_THROWS(Runner::open(contract + "/models/smoke_float.json"), "loading");  // not a flatbuffer

  // A card that describes another model.
  std::unique_ptr<Runner> runner = Runner::open(contract + "/models/smoke_float.tflite");
  CHECK_THROWS(runner->check_card(read_model_card(contract + "/models/tiny_int8_mask.json")),
               "output kind: card mask, model scores");
  ModelCard card = read_model_card(contract + "/models/smoke_float.json");
  runner->check_card(card);
  card.classes.pop_back();
  CHECK_THROWS(runner->check_card(card), "the model scores 6 classes, the card lists 5");
  CHECK_THROWS(runner->run(std::vector<uint8_t>(7)), "needs 15795");
  CHECK_THROWS(Segmenter(contract + "/models/no_such_card.json"), "cannot be read");

  // The whole pipeline on a good model, as the apps call it.
  Segmenter segmenter(contract + "/models/tiny_int8_mask.json");
  std::vector<uint8_t> rgba(97 * 131 * 4, 200);
  Segmentation result = segmenter.segment({rgba.data(), 97, 131, 4}, Resize::kLetterbox, 128);
  CHECK(result.mask_image.height == 97 && result.mask_image.width == 131);
  CHECK(result.overlay_rgba.size() == rgba.size() && !result.classes.empty());
  return testing::finish("test_bad_models");
}
