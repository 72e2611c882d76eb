// Verification can fail: the verifiers are fed what a broken channel would
// deliver — a lost, a duplicated and a reordered message, a damaged payload,
// a short count — and each is reported invalid, with a message saying what
// went wrong. The deliveries go through the same take() consumers call.
#include <gtest/gtest.h>

#include <vector>

#include "harness/sandbox/cell.hpp"
#include "harness/cell/outcome.hpp"
#include "workloads/counter/spec.hpp"
#include "workloads/prodcons/spec.hpp"

namespace cmbench {
namespace {

using prodcons::Message;

struct Consumer {
  prodcons::Tally tally;
  std::vector<uint64_t> last;
  Histogram hist;
};

class Verify : public ::testing::Test {
 protected:
  static constexpr uint64_t kP = 3, kM = 30;
  Params params = make_params(prodcons::spec().params, {{"producers", "3"}, {"consumers", "2"},
                                                        {"messages", "30"}, {"payload", "64"}});
  std::vector<Consumer> consumers = std::vector<Consumer>(2, Consumer{{}, std::vector<uint64_t>(kP), {}});

  void deliver(size_t consumer, uint32_t producer, uint64_t seq, bool damage = false) {
    Message<64> msg;
    prodcons::stamp(msg, producer, seq);
    if (damage) msg.payload[63] = std::byte{0x5a};
    auto& c = consumers[consumer];
    prodcons::take(c.tally, c.last, kM, kP, msg, c.hist);
  }
  // Every message of every producer, alternating consumers.
  void deliver_all(int skip_producer = -1, uint64_t skip_seq = ~0ull) {
    size_t k = 0;
    for (uint32_t p = 0; p < kP; ++p)
      for (uint64_t s = 0; s < prodcons::messages_of(kM, kP, p); ++s)
        if (!(static_cast<int>(p) == skip_producer && s == skip_seq)) deliver(k++ % 2, p, s);
  }
  Verdict verdict() {
    std::vector<prodcons::Tally> t;
    for (auto& c : consumers) t.push_back(c.tally);
    return prodcons::verify(params, t);
  }
  // The outcome the cell runner gives a run with this verdict.
  Outcome outcome(const Verdict& v, std::string& msg) {
    Probe probe;
    probe.start();
    probe.stop();
    probe.verify(v);
    return classify(probe, msg);
  }
};

TEST_F(Verify, EverythingOnceInOrderPasses) {
  deliver_all();
  Verdict v = verdict();
  EXPECT_TRUE(v.ok) << v.message;
  std::string msg;
  EXPECT_EQ(outcome(v, msg), Outcome::ok);
}

TEST_F(Verify, LostMessageIsInvalid) {
  deliver_all(1, 4);
  Verdict v = verdict();
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.message.find("expected 30 messages consumed, got 29"), std::string::npos) << v.message;
  std::string msg;
  EXPECT_EQ(outcome(v, msg), Outcome::invalid);
  EXPECT_EQ(msg, v.message);
}

TEST_F(Verify, DuplicateInPlaceOfALostOneIsInvalid) {
  // The count is right; only the ids tell that one came twice.
  deliver_all(2, 9);
  deliver(1, 2, 3);
  Verdict v = verdict();
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.message.find("exactly once"), std::string::npos) << v.message;
}

TEST_F(Verify, ReorderedMessagesAreInvalid) {
  for (uint32_t p = 0; p < kP; ++p)
    for (uint64_t s = 0; s < 10; ++s) {
      // Producer 0's messages 4 and 5 arrive swapped at the same consumer.
      uint64_t seq = (p == 0 && s == 4) ? 5 : (p == 0 && s == 5) ? 4 : s;
      deliver(p == 0 ? 0 : 1, p, seq);
    }
  Verdict v = verdict();
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.message.find("out of their producer's order"), std::string::npos) << v.message;
}

TEST_F(Verify, DamagedPayloadIsInvalid) {
  size_t k = 0;
  for (uint32_t p = 0; p < kP; ++p)
    for (uint64_t s = 0; s < 10; ++s) deliver(k++ % 2, p, s, /*damage=*/p == 1 && s == 2);
  Verdict v = verdict();
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.message.find("damaged"), std::string::npos) << v.message;
}

TEST_F(Verify, UnknownProducerIsInvalid) {
  deliver_all();
  deliver(0, 7, 0);
  EXPECT_FALSE(verdict().ok);
}

TEST(VerifyCounter, ShortCountIsInvalid) {
  Params p = make_params(counter::spec().params, {{"units", "4"}, {"increments", "1000"}});
  EXPECT_TRUE(counter::verify(p, 4000).ok);
  Verdict v = counter::verify(p, 3999);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.message.find("expected count 4000"), std::string::npos) << v.message;
  EXPECT_NE(v.message.find("got 3999"), std::string::npos);
}

TEST(Classify, UnbracketedOrUnverifiedRunsFail) {
  std::string msg;
  Probe none;
  EXPECT_EQ(classify(none, msg), Outcome::failed);
  EXPECT_NE(msg.find("timed region"), std::string::npos);
  Probe unverified;
  unverified.start();
  unverified.stop();
  EXPECT_EQ(classify(unverified, msg), Outcome::failed);
  EXPECT_NE(msg.find("did not verify"), std::string::npos);
}

}  // namespace
}  // namespace cmbench
