# The reader's offline library: client/library.c, render.c, render_sanitize.c.
if(TARGET szclient)
    sz_unit_test(test_library SOURCES test_library.c LIBS szclient)

    # Browser test: test_library --make-demo writes a small library (Markdown
    # with an image, HTML with a remote image and a script, Cyrillic plain
    # text, a publisher with month pages); headless Chromium then opens it from
    # file:// and the NetLog must show no network request. Skipped (77) without
    # Chromium. Not again under the sanitizers (nosan): the library it opens is
    # the same, and Chromium's time (a minute and more of both cores) is all
    # that run would add.
    set(SZ_DEMO_LIBRARY ${CMAKE_CURRENT_BINARY_DIR}/browser-library)
    add_test(NAME library_demo
             COMMAND sh -c "rm -rf \"$1\" && \"$2\" --make-demo \"$1\"" sh
                     ${SZ_DEMO_LIBRARY} $<TARGET_FILE:test_library>)
    set_tests_properties(library_demo PROPERTIES FIXTURES_SETUP sz_demo_library TIMEOUT 60)
    add_test(NAME library_browser
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/browser/no_network_test.sh
                     ${SZ_DEMO_LIBRARY} ${CMAKE_CURRENT_BINARY_DIR}/browser-screenshots - 200,30,40)
    set_tests_properties(library_browser PROPERTIES
        FIXTURES_REQUIRED sz_demo_library SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS "browser;nosan"
        PROCESSORS 2)
endif()
