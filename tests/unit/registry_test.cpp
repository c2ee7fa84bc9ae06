// Task registration and lookup, and running a chunk straight through a registered invoker.

#include <gtest/gtest.h>

#include <mproc/task.hpp>
#include <string>

namespace {

int triple(int x) {
    return 3 * x;
}
MPROC_TASK(triple);

inline auto join_words = [](const std::string& a, const std::string& b) { return a + " " + b; };
MPROC_TASK_AS("join_words", join_words);

int unregistered(int x) {
    return x;
}

}  // namespace

using namespace mproc::detail;

TEST(Registry, FindsFunctionsByAddressAndCallablesByType) {
    const TaskEntry& t = lookup_task(triple, "test");
    EXPECT_EQ(t.name, "triple");
    EXPECT_EQ(t.signature, "int(int)");
    EXPECT_EQ(find_task(t.id), &t);
    const TaskEntry& j = lookup_task(join_words, "test");
    EXPECT_EQ(j.name, "join_words");
    EXPECT_NE(j.id, t.id);
}

TEST(Registry, UnregisteredIsAnErrorNamingTheFunction) {
    try {
        (void)lookup_task(unregistered, "Pool::map");
        FAIL();
    } catch (const mproc::Error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("Pool::map"), std::string::npos) << what;
        EXPECT_NE(what.find("not registered"), std::string::npos) << what;
    }
}

TEST(Registry, InvokerRunsAChunk) {
    const TaskEntry& t = lookup_task(triple, "test");
    Buffer in;
    Packer<int> p(in);
    for (int i : {1, 2, 3}) p.put(i);
    p.finish();
    Buffer out;
    std::uint32_t done = 0;
    t.invoke(in.data(), in.size(), 3, out, done);
    EXPECT_EQ(done, 3u);
    Unpacker<int> u(out.data(), out.size());
    EXPECT_EQ(u.get(), 3);
    EXPECT_EQ(u.get(), 6);
    EXPECT_EQ(u.get(), 9);
}

TEST(Registry, InvokerTakesTuplesForSeveralArguments) {
    const TaskEntry& j = lookup_task(join_words, "test");
    Buffer in;
    Packer<std::tuple<std::string, std::string>> p(in);
    p.put({"hello", "world"});
    p.finish();
    Buffer out;
    std::uint32_t done = 0;
    j.invoke(in.data(), in.size(), 1, out, done);
    Unpacker<std::string> u(out.data(), out.size());
    EXPECT_EQ(u.get(), "hello world");
}

TEST(Registry, NoRegistrationErrors) {
    EXPECT_EQ(registration_errors(), "");
}
