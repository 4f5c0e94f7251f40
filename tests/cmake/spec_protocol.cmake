# The peer protocol as proto/PROTOCOL.md specifies it: a second, independent
# client (tests/spec/protocol_client.py, Python with PyNaCl, written from the
# specification alone) fetches from real samizdatd processes, byte for byte,
# and checks the probe and bad-frame behaviour the specification promises.
# Skips (77) when the Python has no PyNaCl (python3-nacl).
if(TARGET samizdatd AND TARGET samizdat-cli)
    add_test(NAME spec_protocol
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/spec/protocol_spec_test.sh
                     $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd> ${PROJECT_SOURCE_DIR}
                     ${SZ_SPEC_PYTHON})
    # About 12 s, most of it waiting for a node's 10 s handshake deadline.
    set_tests_properties(spec_protocol PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77 LABELS spec)
endif()
