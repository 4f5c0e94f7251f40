# The serving side of the peer protocol as proto/PROTOCOL.md specifies it: a
# second, independent relay (tests/spec/protocol_relay.py, Python with PyNaCl,
# written from the specification alone) serves bundles packed by the CLI, and
# the real `samizdat fetch` and samizdatd must take them from it byte for
# byte, and refuse its misbehaviour as the specification says.
# Skips (77) when the Python has no PyNaCl (python3-nacl).
if(TARGET samizdatd AND TARGET samizdat-cli)
    add_test(NAME spec_relay
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/spec/relay_spec_test.sh
                     $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd> ${PROJECT_SOURCE_DIR}
                     ${SZ_SPEC_PYTHON})
    # About 16 s, 3 of them making sure banned relays are not linked to again.
    set_tests_properties(spec_relay PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77 LABELS spec)
endif()
