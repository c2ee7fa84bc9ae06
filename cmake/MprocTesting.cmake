# Test registration helpers.
#
# mproc_add_mpi_test(name SOURCES a.cpp ... [RANKS 1 2 3 5] [TIMEOUT seconds])
#   Builds one GoogleTest program and registers it once per rank count as name.npN, run by
#   mpirun with oversubscription (2-core machines run 5 ranks) and as root where needed.
#   A failure on any rank fails the test (mpirun's exit code); a hung run is killed by
#   mpirun's --timeout, which reports it, with CTest's TIMEOUT as a backstop.

find_package(GTest REQUIRED)

set(MPROC_MPIRUN_FLAGS --oversubscribe --bind-to none)
set(MPROC_TEST_ENV "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1")

function(mproc_add_mpi_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;RANKS" ${ARGN})
  if(NOT T_RANKS)
    set(T_RANKS 1 2 3 5)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 180)
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE mproc::mproc mproc_mpi_test_main GTest::gtest)
  math(EXPR backstop "${T_TIMEOUT} + 30")
  foreach(np IN LISTS T_RANKS)
    add_test(NAME ${name}.np${np}
             COMMAND ${MPIEXEC_EXECUTABLE} -np ${np} ${MPROC_MPIRUN_FLAGS}
                     --timeout ${T_TIMEOUT} $<TARGET_FILE:${name}>)
    # PROCESSORS lets `ctest -j` keep multi-rank runs from piling onto 2 cores.
    set(procs ${np})
    if(procs GREATER 2)
      set(procs 2)
    endif()
    set_tests_properties(${name}.np${np} PROPERTIES
      TIMEOUT ${backstop} PROCESSORS ${procs} ENVIRONMENT "${MPROC_TEST_ENV}" LABELS mpi)
  endforeach()
endfunction()

# mproc_add_unit_test(name SOURCES ...): a plain GoogleTest program, no MPI launch.
function(mproc_add_unit_test name)
  cmake_parse_arguments(T "" "" "SOURCES" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE mproc::mproc GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES TIMEOUT 120 LABELS unit)
endfunction()

# mproc_add_group_test(name GROUP_SIZE g RANKS ...): runs the MPI test `name` again with node
# groups on (MPROC_GROUP_SIZE=g) at each rank count, as `name.g<g>.np<N>`.
function(mproc_add_group_test name)
  cmake_parse_arguments(T "" "GROUP_SIZE;TIMEOUT" "RANKS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 180)
  endif()
  math(EXPR backstop "${T_TIMEOUT} + 30")
  foreach(np IN LISTS T_RANKS)
    add_test(NAME ${name}.g${T_GROUP_SIZE}.np${np}
             COMMAND ${MPIEXEC_EXECUTABLE} -np ${np} ${MPROC_MPIRUN_FLAGS}
                     --timeout ${T_TIMEOUT} $<TARGET_FILE:${name}>)
    set_tests_properties(${name}.g${T_GROUP_SIZE}.np${np} PROPERTIES
      TIMEOUT ${backstop} PROCESSORS 2 LABELS mpi
      ENVIRONMENT "${MPROC_TEST_ENV};MPROC_GROUP_SIZE=${T_GROUP_SIZE}")
  endforeach()
endfunction()
