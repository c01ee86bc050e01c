// The chirp:tweets broadcast codec (chirp/timeline/broadcast.hpp): round trips, the exact
// wire bytes, and malformed input, which must decode to nullopt without throwing or reading
// past the payload.
#include <gtest/gtest.h>

#include <string>

#include "chirp/timeline/broadcast.hpp"

namespace tl = chirp::timeline;

TEST(TimelineBroadcast, WireBytes) {
    std::vector<tl::change> changes = {
        tl::tweet_created{10, 1, 0, 0},
        tl::tweet_created{11, 2, 10, 0},
        tl::tweet_deleted{12, 3, -1, -1},
        tl::tweet_deleted{13, 3, 10, 0},
        tl::like_changed{10, 4, true, 5, 6, 7},
        tl::like_changed{10, 4, false, 4, 6, 7},
        tl::follow_changed{8, 9},
    };
    EXPECT_EQ(tl::encode_changes(changes),
              "c10 1 0 0;c11 2 10 0;d12 3 -1 -1;d13 3 10 0;l10 4 1 5 6 7;l10 4 0 4 6 7;f8 9;");
    tl::broadcast b{"1234567890123", 42, changes};
    EXPECT_EQ(tl::encode_broadcast(b), "1234567890123 42 " + tl::encode_changes(changes));
    auto d = tl::decode_broadcast(tl::encode_broadcast(b));
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, b);
}

TEST(TimelineBroadcast, EmptyChangesRoundTrip) {
    tl::broadcast b{"e", 1, {}};
    EXPECT_EQ(tl::encode_broadcast(b), "e 1 ");
    auto d = tl::decode_broadcast("e 1 ");
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, b);
}

TEST(TimelineBroadcast, UnknownKindIsSkipped) {
    auto d = tl::decode_broadcast("e 3 x1 2 3;f4 5;");
    ASSERT_TRUE(d);
    ASSERT_EQ(d->changes.size(), 1u);
    EXPECT_EQ(std::get<tl::follow_changed>(d->changes[0]), (tl::follow_changed{4, 5}));
}

TEST(TimelineBroadcast, Malformed) {
    for (std::string_view bad : {
             "",
             "e",
             "e 1",                                   // no space after the version
             " 1 f1 2;",                              // empty epoch
             "e x f1 2;",                             // non-numeric version
             "e -1 f1 2;",                            // negative version
             "e 99999999999999999999 f1 2;",          // version overflow
             "e 1 f1 2",                              // change without ';'
             "e 1 ;",                                 // empty change
             "e 1 f1;",                               // too few fields
             "e 1 f1 2 3;",                           // too many fields
             "e 1 f1  2;",                            // double space
             "e 1 f 1 2;",                            // space after the kind
             "e 1 c1 2 3;",                           // created: too few
             "e 1 c1 2 -1 0;",                        // created: negative parent
             "e 1 dx 2 3 4;",                         // non-numeric
             "e 1 l1 2 2 4 5 6;",                     // liked flag not 0/1
             "e 1 l1 2 1 4 5;",                       // like: too few
             "e 1 l1 2 1 99999999999999999999 5 6;",  // overflow
             "e 1 f-1 2;",                            // negative id
             "e 1 f1 2;;",                            // empty change after a good one
         })
        EXPECT_FALSE(tl::decode_broadcast(bad)) << bad;
}

TEST(TimelineBroadcast, EveryPrefixIsSafe) {
    const std::string good = "987 65 c10 1 0 0;d12 3 -1 -1;l10 4 1 5 6 7;f8 9;";
    for (std::size_t n = 0; n <= good.size(); ++n) {
        auto buf = std::make_unique<char[]>(n + 1);
        std::copy(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n), buf.get());
        std::optional<tl::broadcast> d;
        EXPECT_NO_THROW(d = tl::decode_broadcast(std::string_view(buf.get(), n))) << n;
        // A prefix decodes only where it ends right after a ';' (or is the bare envelope).
        if (d) {
            EXPECT_TRUE(n == 7 || good[n - 1] == ';') << n;
        }
    }
}
