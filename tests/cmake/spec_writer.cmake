# The bundle format from the writer's side: tests/spec/bundle_writer.py is a
# second writer of bundles and key files, written from proto/BUNDLE.md alone
# (Python, PyNaCl, python-zstandard). Its keys must work in samizdat keygen's
# place and the other way round, and its bundles must verify, inspect and
# unpack in the real programs exactly as written, up to the limits BUNDLE.md
# gives and not one past them. Skipped (77) without the modules.
if(TARGET samizdat-cli)
    if(SZ_SPEC_PYTHON)
        set(SZ_SPEC_WRITER_ARGS $<TARGET_FILE:samizdat-cli> ${PROJECT_SOURCE_DIR})
        if(TARGET samizdatd)
            list(APPEND SZ_SPEC_WRITER_ARGS $<TARGET_FILE:samizdatd>)
        endif()
        add_test(NAME spec_writer
                 COMMAND ${SZ_SPEC_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/spec/bundle_writer_test.py
                         ${SZ_SPEC_WRITER_ARGS})
        set_tests_properties(spec_writer PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77)
    endif()
endif()
