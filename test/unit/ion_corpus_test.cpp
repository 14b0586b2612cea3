// Amazon's Ion conformance corpus (test/data/ion-tests: ion-tests
// iontestdata/, see its FORMAT.md) through both readers, as Amazon's own Ion
// libraries run it:
// - every bad/ file is refused (an error, never a crash or a hang);
// - every good/ file is read, except the few named in kSkipped with the
//   reason (each of those must still fail, so the list cannot go stale);
// - in good/equivs every top-level sequence holds values equal under the Ion
//   data model (test/unit/ion_equal.h), in good/non-equivs pairwise unequal;
//   a sequence annotated embedded_documents holds strings that are whole Ion
//   text documents, compared as documents.
// The counts are printed so the summary says what was checked.
#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "test/data"
#endif
#include "appconfig/formats/ion.h"
#include "ion_equal.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace appconfig::ion;
namespace fs = std::filesystem;

const std::string kRoot = std::string(TEST_DATA_DIR) + "/ion-tests/iontestdata";

// good/ files we do not read, and why. Paths relative to iontestdata/.
const std::map<std::string, std::string> kSkipped = {
    {"good/utf16.ion", "UTF-16 text: the readers take UTF-8 only (profiles are UTF-8)"},
    {"good/utf32.ion", "UTF-32 text: the readers take UTF-8 only (profiles are UTF-8)"},
    {"good/item1.10n",
     "reads symbols imported from shared table 'iopg' version 2, whose catalogue ion-tests does not ship: "
     "their text is unknown, and reading one is refused naming the table"},
};

// Groups of good/equivs and good/non-equivs we do not compare, and why. Each
// must still fail to load, with kUnknownSymbol.
const std::map<std::string, std::string> kSkippedGroups = {
    {"good/non-equivs/symbolTablesUnknownText.ion group 1",
     "an embedded document reads symbols imported from a shared table without its catalogue: their text is "
     "unknown, and reading one is refused naming the table"},
};

struct Parsed {
  std::vector<uint8_t> mem;
  Arena arena{};
  Document doc{};
  ParseResult result{};
};

std::unique_ptr<Parsed> parse(std::string_view bytes, bool binary) {
  auto p = std::make_unique<Parsed>();
  p->mem.resize(bytes.size() * kMaxArenaBytesPerInputByte + 4096);
  p->arena = Arena{p->mem.data(), p->mem.size(), 0};
  p->result = binary ? parse_binary(bytes, p->arena, p->doc) : parse_text(bytes, p->arena, p->doc);
  return p;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> files_under(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(kRoot + "/" + dir)) {
    if (!e.is_regular_file()) continue;
    const std::string ext = e.path().extension().string();
    if (ext != ".ion" && ext != ".10n") continue;
    out.push_back(fs::relative(e.path(), kRoot).generic_string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool is_binary(const std::string& rel) { return rel.size() > 4 && rel.compare(rel.size() - 4, 4, ".10n") == 0; }

std::string describe(const ParseResult& r) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s at byte %zu%s%s", error_message(r.error), r.offset, r.detail[0] ? ": " : "",
                r.detail);
  return buf;
}

TEST(IonCorpus, BadFilesAreRefused) {
  const std::vector<std::string> files = files_under("bad");
  ASSERT_GT(files.size(), 400u) << "corpus missing under " << kRoot;
  size_t refused = 0;
  for (const std::string& rel : files) {
    const std::string bytes = slurp(kRoot + "/" + rel);
    const auto p = parse(bytes, is_binary(rel));
    if (p->result.error != Error::kNone) {
      ++refused;
      EXPECT_LE(p->result.offset, bytes.size()) << rel;
    } else {
      ADD_FAILURE() << rel << " was accepted";
    }
  }
  std::printf("ion corpus: bad refused %zu/%zu\n", refused, files.size());
  EXPECT_EQ(refused, files.size());
}

TEST(IonCorpus, GoodFilesAreRead) {
  const std::vector<std::string> files = files_under("good");
  ASSERT_GT(files.size(), 250u) << "corpus missing under " << kRoot;
  size_t read = 0, skipped = 0;
  for (const std::string& rel : files) {
    const std::string bytes = slurp(kRoot + "/" + rel);
    const auto p = parse(bytes, is_binary(rel));
    const auto skip = kSkipped.find(rel);
    if (skip != kSkipped.end()) {
      ++skipped;
      EXPECT_NE(p->result.error, Error::kNone) << rel << " is read now: take it off kSkipped";
      std::printf("ion corpus: skipped %s (%s): %s\n", rel.c_str(), skip->second.c_str(),
                  describe(p->result).c_str());
      continue;
    }
    if (p->result.error == Error::kNone) {
      ++read;
    } else {
      ADD_FAILURE() << rel << ": " << describe(p->result);
    }
  }
  std::printf("ion corpus: good read %zu/%zu (%zu skipped by name)\n", read, files.size(), skipped);
  EXPECT_EQ(read + skipped, files.size());
  EXPECT_EQ(skipped, kSkipped.size());
}

// The values of one top-level sequence: the elements themselves, or (for
// embedded_documents) the documents their strings hold.
struct Group {
  std::vector<const Node*> values;
  std::vector<std::unique_ptr<Parsed>> documents;
};

// Empty on success, else what failed.
std::string load_group(const Node& seq, Group& g, ParseResult& failed) {
  const bool embedded = seq.num_annotations > 0 && seq.annotations[0] == "embedded_documents";
  for (const Node* c = seq.first_child; c != nullptr; c = c->next_sibling) {
    if (!embedded) {
      g.values.push_back(c);
      continue;
    }
    if (c->type != Type::kString || c->is_null) return "embedded document is not a string";
    auto d = parse(c->text, false);
    if (d->result.error != Error::kNone) {
      failed = d->result;
      return "embedded document '" + std::string(c->text) + "': " + describe(d->result);
    }
    g.documents.push_back(std::move(d));
  }
  return "";
}

// Runs every group of every file under dir; returns the number of groups.
size_t check_groups(const std::string& dir, bool want_equal, size_t* skipped) {
  size_t groups = 0;
  for (const std::string& rel : files_under(dir)) {
    if (kSkipped.count(rel) != 0) continue;
    const std::string bytes = slurp(kRoot + "/" + rel);
    const auto p = parse(bytes, is_binary(rel));
    if (p->result.error != Error::kNone) {
      ADD_FAILURE() << rel << ": " << describe(p->result);
      continue;
    }
    size_t index = 0;
    for (const Node* seq = p->doc.first; seq != nullptr; seq = seq->next_sibling, ++index) {
      const std::string where = rel + " group " + std::to_string(index + 1);
      if ((seq->type != Type::kList && seq->type != Type::kSexp) || seq->is_null) {
        ADD_FAILURE() << where << " is not a list or sexp";
        continue;
      }
      Group g;
      ParseResult failed{};
      const std::string error = load_group(*seq, g, failed);
      const auto skip = kSkippedGroups.find(where);
      if (skip != kSkippedGroups.end()) {
        EXPECT_EQ(failed.error, Error::kUnknownSymbol) << where << " loads now: take it off kSkippedGroups";
        std::printf("ion corpus: skipped %s (%s): %s\n", where.c_str(), skip->second.c_str(), error.c_str());
        ++*skipped;
        continue;
      }
      if (!error.empty()) {
        ADD_FAILURE() << where << ": " << error;
        continue;
      }
      const size_t n = g.documents.empty() ? g.values.size() : g.documents.size();
      EXPECT_GE(n, 2u) << where;
      ++groups;
      for (size_t i = 0; i < n; ++i) {
        for (size_t j = 0; j < n; ++j) {
          if (i == j) continue;
          const bool eq = g.documents.empty() ? model::equal(*g.values[i], *g.values[j])
                                              : model::equal(g.documents[i]->doc, g.documents[j]->doc);
          if (want_equal) {
            EXPECT_TRUE(eq) << where << ": values " << i + 1 << " and " << j + 1 << " differ";
          } else {
            EXPECT_FALSE(eq) << where << ": values " << i + 1 << " and " << j + 1 << " are equal";
          }
        }
      }
    }
  }
  return groups;
}

TEST(IonCorpus, EquivsAreEqual) {
  size_t skipped = 0;
  const size_t groups = check_groups("good/equivs", true, &skipped);
  std::printf("ion corpus: equivs groups %zu equal (%zu skipped by name)\n", groups, skipped);
  EXPECT_GT(groups, 150u);
}

TEST(IonCorpus, NonEquivsAreUnequal) {
  size_t skipped = 0;
  const size_t groups = check_groups("good/non-equivs", false, &skipped);
  std::printf("ion corpus: non-equivs groups %zu unequal (%zu skipped by name)\n", groups, skipped);
  EXPECT_EQ(skipped, kSkippedGroups.size());
  EXPECT_GT(groups, 50u);
}

// Every value in every good file equals itself and the equality is not
// trivially true: each value differs from a different-typed neighbour.
TEST(IonCorpus, EqualityIsReflexive) {
  size_t values = 0;
  for (const std::string& rel : files_under("good")) {
    if (kSkipped.count(rel) != 0) continue;
    const std::string bytes = slurp(kRoot + "/" + rel);
    const auto a = parse(bytes, is_binary(rel));
    const auto b = parse(bytes, is_binary(rel));
    if (a->result.error != Error::kNone) continue;  // reported by GoodFilesAreRead
    EXPECT_TRUE(model::equal(a->doc, b->doc)) << rel;
    for (const Node* n = a->doc.first; n != nullptr; n = n->next_sibling, ++values) {
      if (n->next_sibling != nullptr && n->next_sibling->type != n->type) {
        EXPECT_FALSE(model::equal(*n, *n->next_sibling)) << rel;
      }
    }
  }
  EXPECT_GT(values, 1000u);
}

}  // namespace
