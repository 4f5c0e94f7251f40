# CONTROL.md checked by a second implementation: tests/spec/control_client.py,
# a control client written from proto/CONTROL.md and the man pages alone
# (Python 3, standard library only), drives a publishing samizdatd and a relay
# through every request, the documented errors and their effects.
if(TARGET samizdatd AND TARGET samizdat-cli)
    if(SZ_SPEC_PYTHON)
        add_test(NAME spec_control
                 COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/spec/control_spec_test.sh
                         $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd> ${PROJECT_SOURCE_DIR}
                         ${SZ_SPEC_PYTHON})
        # About 15 s; the rest is room for the sanitizer build.
        set_tests_properties(spec_control PROPERTIES TIMEOUT 120 LABELS spec)
    endif()
endif()
