// Persistent delivery (spec/actions-federation.md §10.2-10.4, scenario 19):
// the delivery task `delivery:{id}:{recipient}` survives the receiver being
// down, a restart of the sender, and the sender being killed with SIGKILL in
// the middle of a delivery (run as a real `cumulo serve` process); the
// receiver gets the action exactly once and no second task with that key
// ever exists.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "actions/engine.hpp"
#include "api/services.hpp"
#include "federation/federation.hpp"

using namespace cumulo::test;
using namespace cumulo::test::fed;

namespace {

void follow(Federation& f, const std::string& who, const std::string& whom) {
  auto fl = f.create(who, {{"type", "FLLW"}, {"audienceTag", whom}});
  ASSERT_TRUE(f.wait_stored(whom, fl["actionId"], "A")) << who << "'s FLLW never reached " << whom;
}

// The one delivery task of `key` on `id`'s node (null if there is not exactly one).
json only_task(Federation& f, const std::string& id, const std::string& key) {
  auto t = f.tasks(id, key);
  return t.size() == 1 ? t[0] : json(nullptr);
}

int attempts(Federation& f, const std::string& id, const std::string& key) {
  auto t = only_task(f, id, key);
  return t.is_object() ? t["attempt"].get<int>() : -1;
}

// A listener on a stopped node's port that accepts TCP connections and never
// answers: a delivery to it hangs mid-request (TLS handshake unanswered).
class Blackhole {
 public:
  explicit Blackhole(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    ok_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(fd_, 16) == 0;
  }
  ~Blackhole() { close(); }
  bool ok() const { return ok_; }
  /// True once a connection came in (and is held open, unanswered).
  bool accepted() {
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK);
    if (c >= 0) conns_.push_back(c);
    return !conns_.empty();
  }
  void close() {
    for (int c : conns_) ::close(c);
    conns_.clear();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
  std::vector<int> conns_;
};

}  // namespace

// Scenario 19: bob is down while alice posts; alice's node restarts while bob
// is still down; bob comes back and gets the POST exactly once.
TEST(Delivery, SurvivesReceiverDownAndSenderRestart) {
  Federation f({"alice.test", "bob.test"});
  follow(f, "bob.test", "alice.test");
  f.stop("bob.test");

  auto post = f.create("alice.test", {{"type", "POST"}, {"content", "while you were out"}});
  const std::string id = post["actionId"];
  const std::string key = "delivery:" + id + ":bob.test";
  // The task retries (deliveryMinWaitSeconds 1, max 4 in the harness).
  ASSERT_TRUE(eventually([&] { return attempts(f, "alice.test", key) >= 2; }, std::chrono::seconds(30))) << "no retries";
  EXPECT_EQ(only_task(f, "alice.test", key)["status"], "P");
  EXPECT_EQ(only_task(f, "alice.test", key)["kind"], "action.deliver");

  // alice's node restarts; the same task resumes and keeps retrying.
  f.stop("alice.test");
  const int before = attempts(f, "alice.test", key);
  EXPECT_EQ(only_task(f, "alice.test", key)["status"], "P");
  f.start("alice.test");
  ASSERT_TRUE(eventually([&] { return attempts(f, "alice.test", key) > before; }, std::chrono::seconds(30))) << "the task did not resume after the restart";
  EXPECT_EQ(f.tasks("alice.test", "delivery:" + id + ":").size(), 1u);
  EXPECT_TRUE(f.stored("alice.test", id).is_object());

  // bob comes back: the POST arrives, once.
  f.start("bob.test");
  ASSERT_TRUE(f.wait_stored("bob.test", id, "A", std::chrono::seconds(30))) << "never delivered";
  ASSERT_TRUE(eventually([&] { return only_task(f, "alice.test", key).value("status", "") == "F"; }, std::chrono::seconds(20)));
  ASSERT_TRUE(f.settle());
  EXPECT_EQ(f.tasks("alice.test", "delivery:" + id + ":").size(), 1u) << "a second task with the same key";
  EXPECT_EQ(f.list("bob.test", {{"type", "POST"}, {"limit", 500}}).size(), 1u);
  EXPECT_EQ(f.tasks("bob.test", "verify:bob.test:" + id).size(), 1u) << "delivered more than once";
  EXPECT_EQ(f.node("bob.test").app().services().actions().stats().received.load(), 1u);
  auto feed = json::parse(f.call("bob.test", "GET", "/api/actions?type=POST").body)["data"];
  ASSERT_EQ(feed.size(), 1u);
  EXPECT_EQ(feed[0]["actionId"], id);
  EXPECT_EQ(f.stored("bob.test", id)["token"], post["token"]);
}

// The sender is a real `cumulo serve` process and is killed with SIGKILL —
// once between retries, once in the middle of a delivery request — then
// started again; the receiver comes back and gets the POST exactly once.
TEST(Delivery, SurvivesSenderKill9MidDelivery) {
  Federation f({"alice.test", "bob.test"});
  follow(f, "bob.test", "alice.test");
  f.stop("bob.test");
  auto post = f.create("alice.test", {{"type", "POST"}, {"content", "survives kill -9"}});
  const std::string id = post["actionId"];
  const std::string key = "delivery:" + id + ":bob.test";
  ASSERT_TRUE(eventually([&] { return attempts(f, "alice.test", key) >= 1; }, std::chrono::seconds(30)));

  // alice as a process picks the pending task up and retries it.
  f.stop("alice.test");
  f.start_process("alice.test");
  int seen = attempts(f, "alice.test", key);
  ASSERT_TRUE(eventually([&] { return attempts(f, "alice.test", key) > seen; }, std::chrono::seconds(30))) << "the process did not retry";
  f.kill9("alice.test");
  EXPECT_EQ(only_task(f, "alice.test", key)["status"], "P");

  // Again, this time while a delivery request is in flight: bob's port
  // accepts the connection and never answers.
  Blackhole hole(f.node("bob.test").port);
  ASSERT_TRUE(hole.ok()) << "cannot listen on bob's port";
  f.start_process("alice.test");
  ASSERT_TRUE(eventually([&] { return hole.accepted(); }, std::chrono::seconds(30))) << "alice never tried to deliver";
  f.kill9("alice.test");
  hole.close();
  EXPECT_EQ(only_task(f, "alice.test", key)["status"], "P") << "the task was lost by the kill";

  // bob is back, then alice: the POST arrives, once.
  f.start("bob.test");
  f.start_process("alice.test");
  ASSERT_TRUE(f.wait_stored("bob.test", id, "A", std::chrono::seconds(60))) << "never delivered";
  ASSERT_TRUE(eventually([&] { return only_task(f, "alice.test", key).value("status", "") == "F"; }, std::chrono::seconds(30)));
  ASSERT_TRUE(f.settle());
  EXPECT_EQ(f.tasks("alice.test", "delivery:" + id + ":").size(), 1u) << "a second task with the same key";
  EXPECT_EQ(f.list("bob.test", {{"type", "POST"}, {"limit", 500}}).size(), 1u);
  EXPECT_EQ(f.tasks("bob.test", "verify:bob.test:" + id).size(), 1u) << "delivered more than once";
  EXPECT_EQ(f.stored("bob.test", id)["token"], post["token"]);
  f.stop("alice.test");
}
