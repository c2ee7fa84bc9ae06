// The command job's template (tools/runner/command_template.*): GNU parallel's placeholders,
// the values quoted for the shell, the path without a shell, and what validate refuses.

#include <gtest/gtest.h>

#include "command_template.hpp"

namespace {

using namespace mproc::runner;
using Words = std::vector<std::string>;

TEST(RunnerTemplate, GnuParallelsPlaceholders) {
    const Value path("dir/sub/file.tar.gz");
    EXPECT_EQ(placeholder_value("", {path, 0}), "dir/sub/file.tar.gz");
    EXPECT_EQ(placeholder_value(".", {path, 0}), "dir/sub/file.tar");
    EXPECT_EQ(placeholder_value("/", {path, 0}), "file.tar.gz");
    EXPECT_EQ(placeholder_value("//", {path, 0}), "dir/sub");
    EXPECT_EQ(placeholder_value("/.", {path, 0}), "file.tar");
    EXPECT_EQ(placeholder_value("#", {path, 0}), "1");  // from 1, as GNU parallel
    EXPECT_EQ(placeholder_value("#", {path, 41}), "42");
    EXPECT_EQ(placeholder_value("%", {path, 41, 3}), "3");  // the worker's slot, from 1
    EXPECT_EQ(placeholder_value("//", {Value("file"), 0}), ".");
    EXPECT_EQ(placeholder_value("//", {Value("/file"), 0}), "/");
    EXPECT_EQ(placeholder_value(".", {Value(".bashrc"), 0}), ".bashrc");  // a dot file
    EXPECT_EQ(placeholder_value(".", {Value("a.b/c"), 0}), "a.b/c");      // a dot in a folder
    const Value point(Value::Map{{"alpha", Value::written("0.50", 0.5)}, {"n", Value(100)}});
    EXPECT_EQ(placeholder_value("alpha", {point, 0}), "0.50");  // as written
    EXPECT_EQ(placeholder_value("n", {point, 0}), "100");
    EXPECT_THROW(placeholder_value("beta", {point, 0}), std::invalid_argument);
    EXPECT_THROW(placeholder_value("beta", {path, 0}), std::invalid_argument);
}

TEST(RunnerTemplate, WhatIsAPlaceholderAndWhatIsShell) {
    const auto found = placeholders("a {} '{x}' \"{/}\" ${HOME} { echo; } {#}");
    ASSERT_EQ(found.size(), 4u);
    EXPECT_EQ(found[0].name, "");
    EXPECT_FALSE(found[0].quoted);
    EXPECT_EQ(found[1].name, "x");
    EXPECT_TRUE(found[1].quoted);
    EXPECT_EQ(found[2].name, "/");
    EXPECT_TRUE(found[2].quoted);
    EXPECT_EQ(found[3].name, "#");
    EXPECT_EQ(placeholders("awk '{print $1}' {}").size(), 1u);  // {print $1} is not a name
    EXPECT_EQ(placeholders("awk '{print $1}' {}")[0].name, "");
}

TEST(RunnerTemplate, ValuesAreQuotedForTheShell) {
    EXPECT_EQ(fill_template("echo {} > {.}.out", {Value("a b.txt"), 0}),
              "echo 'a b.txt' > 'a b'.out");
    EXPECT_EQ(fill_template("echo {}", {Value("$(touch x)"), 0}), "echo '$(touch x)'");
    EXPECT_EQ(fill_template("echo {}", {Value("it's"), 0}), "echo 'it'\\''s'");
    EXPECT_EQ(fill_template("run {#} ${HOME}", {Value("x"), 2}), "run '3' ${HOME}");
    EXPECT_EQ(fill_template("CUDA_VISIBLE_DEVICES={%} run {}", {Value("x"), 0, 2}),
              "CUDA_VISIBLE_DEVICES='2' run 'x'");
    // A dry run knows no slot yet: {%} stays as written.
    EXPECT_EQ(fill_template("run {} on {%}", {Value("x"), 0}), "run 'x' on {%}");
}

TEST(RunnerTemplate, WithoutShellSyntaxTheProgramRunsDirectly) {
    EXPECT_FALSE(needs_shell("wc -l {}"));
    EXPECT_FALSE(needs_shell("convert {} {.}.png"));
    EXPECT_FALSE(needs_shell("python3 run.py --alpha={alpha} --n {n}"));
    for (const char* shell : {"a | b", "echo {} > out", "a; b", "echo $HOME", "echo 'x'",
                              "ls *.txt", "cd {} && make", "FOO=1 cmd {}", "export X=1",
                              "case {} in a) ;; esac"})
        EXPECT_TRUE(needs_shell(shell)) << shell;
    // Each placeholder's value is part of one argument, exactly as the shell would pass it.
    EXPECT_EQ(command_words("wc -l {}", {Value("a b.txt"), 0}), (Words{"wc", "-l", "a b.txt"}));
    EXPECT_EQ(command_words("cp {} out/{/.}.bak", {Value("x/y z.c"), 0}),
              (Words{"cp", "x/y z.c", "out/y z.bak"}));
    EXPECT_EQ(command_words("  echo   {}  ", {Value(""), 0}), (Words{"echo", ""}));
    EXPECT_EQ(command_words("echo {}", {Value("$(touch x)"), 0}), (Words{"echo", "$(touch x)"}));
}

TEST(RunnerTemplate, ValidateRefusesWhatCanNeverWork) {
    const auto problem = [](const std::string& tpl, bool mapping, Words fields) {
        InputShape shape;
        shape.mapping = mapping;
        shape.fields = std::move(fields);
        const auto p = check_template(Value(Value::Map{{"command", Value(tpl)}}), shape);
        return p ? p->what : std::string();
    };
    EXPECT_EQ(problem("wc -l {}", false, {}), "");
    EXPECT_EQ(problem("run {n} {alpha}", true, {"alpha", "n"}), "");
    EXPECT_NE(problem("echo \"{}\"", false, {}).find("is inside quotes"), std::string::npos);
    EXPECT_NE(problem("echo '{/}'", false, {}).find("(character 7)"), std::string::npos);
    EXPECT_NE(problem("run {n}", false, {}).find("names a field, but the inputs have none"),
              std::string::npos);
    EXPECT_NE(problem("run {beta}", true, {"alpha", "n"}).find("they have: alpha, n"),
              std::string::npos);
}

}  // namespace
