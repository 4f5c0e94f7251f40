# The peer link (proto/link.c) and the peer message codec (proto/msg.c), PROTOCOL.md.
# test_link carries its own copy of link.c built with SZ_LINK_TESTING, which adds a
# test-only way to seal frames with any length; its definitions take the place of
# the library's link.o, which the linker then leaves out.
sz_unit_test(test_link SOURCES test_link.c ${PROJECT_SOURCE_DIR}/proto/link.c LIBS samizdat)
target_compile_definitions(test_link PRIVATE SZ_LINK_TESTING)
sz_unit_test(test_msg SOURCES test_msg.c LIBS samizdat)
