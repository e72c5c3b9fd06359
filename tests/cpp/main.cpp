// Catch2 (v2, Debian's package) provides main().
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
