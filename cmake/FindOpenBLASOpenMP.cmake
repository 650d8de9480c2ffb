# OpenBLAS, preferring Debian's OpenMP flavour (it shares the OpenMP runtime with our own loops, so
# one thread count governs both). Defines the interface target resa_openblas.
find_path(RESA_CBLAS_INCLUDE_DIR cblas.h
  PATHS /usr/include/x86_64-linux-gnu/openblas-openmp /usr/include/aarch64-linux-gnu/openblas-openmp
        /usr/include/x86_64-linux-gnu/openblas-pthread /usr/include/openblas
  NO_DEFAULT_PATH)
find_path(RESA_CBLAS_INCLUDE_DIR cblas.h)
find_library(RESA_OPENBLAS_LIBRARY openblas
  PATHS /usr/lib/x86_64-linux-gnu/openblas-openmp /usr/lib/aarch64-linux-gnu/openblas-openmp
  NO_DEFAULT_PATH)
find_library(RESA_OPENBLAS_LIBRARY openblas)
if(NOT RESA_CBLAS_INCLUDE_DIR OR NOT RESA_OPENBLAS_LIBRARY)
  message(FATAL_ERROR "OpenBLAS not found: install libopenblas-openmp-dev (tools/setup.sh does)")
endif()
if(NOT TARGET resa_openblas)
  add_library(resa_openblas INTERFACE)
  target_include_directories(resa_openblas INTERFACE $<BUILD_INTERFACE:${RESA_CBLAS_INCLUDE_DIR}>)
  target_link_libraries(resa_openblas INTERFACE ${RESA_OPENBLAS_LIBRARY})
endif()
message(STATUS "resa: OpenBLAS ${RESA_OPENBLAS_LIBRARY}")
