// Models and cards outside the contract get a segcore::Error naming the problem, never a crash
// or a mask (mobile/contract/README.md "Bad models").
#include "segcore/runner.h"
#include "testing.h"

using namespace segcore;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: test_bad_models CONTRACT_DIR\n";
    return 2;
  }
  const std::string contract = argv[1];
  CHECK_THROWS(Runner::open(contract + "/bad/two_outputs.tflite"), "1 input(s) and 2 output(s)");
  CHECK_THROWS(Runner::open(contract + "/bad/five_d.tflite"), "rank 5 [1, 8, 8, 3, 1]");
  CHECK_THROWS(Runner::open(contract + "/bad/int16_output.tflite"), "dtype int16");
  CHECK_THROWS(Runner::open(contract + "/bad/missing.tflite"), "does not exist");
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
