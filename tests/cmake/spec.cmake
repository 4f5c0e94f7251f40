# The bundle format against its specification: tests/spec/bundle_spec.py is a
# second reader written from proto/BUNDLE.md alone (Python, PyNaCl,
# python-zstandard). It reads the test vectors, bundles the CLI packs, damaged
# copies of them and hand-made bundles with one defect each, and holds both
# readers to the outcome BUNDLE.md gives. Skipped (77) without the modules.
if(TARGET samizdat-cli)
    if(SZ_SPEC_PYTHON)
        add_test(NAME spec_bundle
                 COMMAND ${SZ_SPEC_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/spec/bundle_spec.py test
                         $<TARGET_FILE:samizdat-cli> ${PROJECT_SOURCE_DIR})
        set_tests_properties(spec_bundle PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77)
    endif()
endif()
