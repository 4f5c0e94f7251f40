# Lint: cppcheck finds nothing in our code, and every C file is formatted
# with the project's .clang-format. Each is skipped when its tool is absent.
find_program(SZ_CPPCHECK cppcheck)
find_program(SZ_CLANG_FORMAT clang-format)
if(SZ_CPPCHECK)
    add_test(NAME lint_cppcheck
             COMMAND ${SZ_CPPCHECK} --quiet --enable=warning,performance,portability --std=c11
                     --error-exitcode=1 -I include -I client -I daemon
                     proto client daemon tests bench
             WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
    set_tests_properties(lint_cppcheck PROPERTIES LABELS nosan TIMEOUT 300 PROCESSORS 2)
endif()
if(SZ_CLANG_FORMAT)
    add_test(NAME lint_format
             COMMAND bash -c "find proto client daemon include tests bench -name '*.[ch]' -print0 | xargs -0 ${SZ_CLANG_FORMAT} --dry-run --Werror"
             WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
    set_tests_properties(lint_format PROPERTIES LABELS nosan TIMEOUT 300)
endif()
