# Helpers shared by every area's CMakeLists.txt.

# Adds each immediate subdirectory of DIR that has a CMakeLists.txt, in name order.
# Areas are added in dependency order given by ECE_AREA_ORDER first, the rest alphabetically.
function(ece_add_subdirectories dir)
  file(GLOB children RELATIVE ${CMAKE_CURRENT_SOURCE_DIR}/${dir} ${CMAKE_CURRENT_SOURCE_DIR}/${dir}/*/CMakeLists.txt)
  list(SORT children)
  foreach(child ${children})
    get_filename_component(sub ${child} DIRECTORY)
    add_subdirectory(${dir}/${sub})
  endforeach()
endfunction()

# ece_library(NAME area SOURCES ... DEPS ...): the static library ece_<area>.
# Headers are included as "area/file.hpp" from lib/. Targets may be referenced before they are
# defined (CMake resolves link targets at generate time), so folder order does not matter.
function(ece_library)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPS" ${ARGN})
  add_library(ece_${ARG_NAME} STATIC ${ARG_SOURCES})
  target_include_directories(ece_${ARG_NAME} PUBLIC ${PROJECT_SOURCE_DIR}/lib)
  target_link_libraries(ece_${ARG_NAME} PUBLIC ${ARG_DEPS})
endfunction()

# ece_binary(NAME ece-env SOURCES ... DEPS ...): an installed command-line program.
function(ece_binary)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SOURCES})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS})
  install(TARGETS ${ARG_NAME} RUNTIME DESTINATION bin)
endfunction()

# ece_test(NAME area SOURCES ... DEPS ... [LABELS ...]): the GoogleTest binary test_<area>,
# discovered into CTest. LABELS db: links ece_testsupport_pg (tests/support_pg/pg_support.hpp) and
# requires the CTest fixture ece_pg, whose cleanup removes the shared test cluster. Tests run from the repository root so "../shared/fixtures/..." resolves.
function(ece_test)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(test_${ARG_NAME} ${ARG_SOURCES})
  target_link_libraries(test_${ARG_NAME} PRIVATE ${ARG_DEPS} ece_testsupport GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_definitions(test_${ARG_NAME} PRIVATE ECE_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  set(extra_properties)
  if("db" IN_LIST ARG_LABELS)
    # Database tests: real PostgreSQL through tests/support_pg; the fixture removes the shared cluster afterwards.
    target_link_libraries(test_${ARG_NAME} PRIVATE ece_testsupport_pg)
    set(extra_properties FIXTURES_REQUIRED ece_pg)
  endif()
  if(ECE_SANITIZE)
    # Known leaks of libraries ece uses (tests/lsan.supp), for the test and every ece process it starts.
    list(APPEND extra_properties ENVIRONMENT "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/lsan.supp")
  endif()
  gtest_discover_tests(test_${ARG_NAME}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    PROPERTIES LABELS "${ARG_LABELS}" ${extra_properties}
    DISCOVERY_TIMEOUT 60
    # Listed when CTest runs, not at build time: some suites enumerate ../shared/fixtures to name their cases,
    # and a build (e.g. the container builder) need not have them.
    DISCOVERY_MODE PRE_TEST)
endfunction()
