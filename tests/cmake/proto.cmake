# Tests of the core library (proto/) and the bundle test vectors (tests/vectors/).
# libsamizdat links sodium and zstd publicly, so the tests may use both directly.
sz_unit_test(test_buf SOURCES test_buf.c LIBS samizdat)
sz_unit_test(test_article SOURCES test_article.c LIBS samizdat)
sz_unit_test(test_keys SOURCES test_keys.c LIBS samizdat)
sz_unit_test(test_bundle SOURCES test_bundle.c LIBS samizdat)

# The generator of tests/vectors/: `mkvectors DIR` writes them all into DIR.
add_executable(mkvectors ${CMAKE_CURRENT_SOURCE_DIR}/mkvectors.c)
target_link_libraries(mkvectors PRIVATE samizdat)

# Regenerates the vectors into a temporary directory and compares them with
# the committed ones, then checks each committed vector against expected.tsv.
sz_unit_test(test_vectors SOURCES test_vectors.c LIBS samizdat)
target_compile_definitions(test_vectors PRIVATE SZ_MKVECTORS="$<TARGET_FILE:mkvectors>")
add_dependencies(test_vectors mkvectors)

# sz_utf8_valid() takes the widest block checker the processor has (AVX2,
# SSSE3, else SSE2 and bytes); these builds of test_article cap it, so that
# the narrower paths are checked on any machine.
foreach(level 1 2)
    sz_unit_test(test_article_simd${level} SOURCES test_article.c
                 ${PROJECT_SOURCE_DIR}/proto/article.c LIBS samizdat)
    target_compile_definitions(test_article_simd${level} PRIVATE SZ_UTF8_MAX_LEVEL=${level})
endforeach()
