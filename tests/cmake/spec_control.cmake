# CONTROL.md checked by a second implementation: tests/spec/control_client.py,
# a control client written from proto/CONTROL.md and the man pages alone
# (Python 3, standard library only), drives a publishing samizdatd and a relay
# through every request, the documented errors and their effects.
if(TARGET samizdatd AND TARGET samizdat-cli)
    # The system's own Python when there is one (another python3 may come
    # first on PATH).
    if(EXISTS /usr/bin/python3)
        set(SZ_SPEC_PYTHON /usr/bin/python3)
    else()
        find_program(SZ_SPEC_PYTHON python3)
    endif()
    if(SZ_SPEC_PYTHON)
        add_test(NAME spec_control
                 COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/spec/control_spec_test.sh
                         $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd> ${PROJECT_SOURCE_DIR}
                         ${SZ_SPEC_PYTHON})
        # About 15 s; the rest is room for the sanitizer build.
        set_tests_properties(spec_control PROPERTIES TIMEOUT 120 LABELS spec)
    endif()
endif()
