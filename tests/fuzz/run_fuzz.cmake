# Runs one libFuzzer harness for a short campaign; used by the fuzz_<name>_run tests.
#   cmake -DFUZZER=<binary> -DSEEDS=<seed dir> -DWORK=<dir> -DMAX_LEN=<n> -DSECONDS=<n>
#         [-DDICT=<libFuzzer dictionary>] -P run_fuzz.cmake
# The seeds are copied into WORK/corpus, which the fuzzer grows (the source tree is
# never written; the copy persists, so later runs start from what earlier ones found).
# Crash, leak, timeout and out-of-memory inputs land in WORK/artifacts/ and fail the test.

foreach(var FUZZER SEEDS WORK MAX_LEN SECONDS)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "run_fuzz.cmake: -D${var}= is required")
    endif()
endforeach()

file(MAKE_DIRECTORY ${WORK}/corpus ${WORK}/artifacts)
if(IS_DIRECTORY ${SEEDS})
    file(COPY ${SEEDS}/ DESTINATION ${WORK}/corpus)
endif()

set(dict_arg "")
if(DICT)
    set(dict_arg -dict=${DICT})
endif()

execute_process(
    COMMAND ${FUZZER} ${dict_arg} -max_total_time=${SECONDS} -rss_limit_mb=2048 -max_len=${MAX_LEN}
            -timeout=25 -print_final_stats=1 -artifact_prefix=${WORK}/artifacts/
            ${WORK}/corpus
    WORKING_DIRECTORY ${WORK}
    RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${FUZZER} failed (${rc}): reproduce with ${FUZZER} <input>, "
                        "the input is in ${WORK}/artifacts/")
endif()
