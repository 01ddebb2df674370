# FindOpenBLAS: the OpenBLAS CBLAS interface. Prefers Debian's OpenMP build (libopenblas-openmp-dev),
# which runs single-threaded inside trim's own OpenMP regions instead of oversubscribing the cores.
# Accepts -DOpenBLAS_ROOT=<prefix>. Defines OpenBLAS::OpenBLAS.
set(_openblas_hints ${OpenBLAS_ROOT} $ENV{OpenBLAS_ROOT})
find_path(OpenBLAS_INCLUDE_DIR cblas.h
  HINTS ${_openblas_hints}
  PATH_SUFFIXES include include/openblas include/x86_64-linux-gnu/openblas-openmp
                include/aarch64-linux-gnu/openblas-openmp
  PATHS /usr/include/x86_64-linux-gnu/openblas-openmp /usr/include/aarch64-linux-gnu/openblas-openmp
  NO_DEFAULT_PATH)
find_path(OpenBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas)
find_library(OpenBLAS_LIBRARY NAMES openblas
  HINTS ${_openblas_hints}
  PATH_SUFFIXES lib lib64 lib/x86_64-linux-gnu/openblas-openmp lib/aarch64-linux-gnu/openblas-openmp
  PATHS /usr/lib/x86_64-linux-gnu/openblas-openmp /usr/lib/aarch64-linux-gnu/openblas-openmp
  NO_DEFAULT_PATH)
find_library(OpenBLAS_LIBRARY NAMES openblas)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(OpenBLAS REQUIRED_VARS OpenBLAS_LIBRARY OpenBLAS_INCLUDE_DIR)
if(OpenBLAS_FOUND AND NOT TARGET OpenBLAS::OpenBLAS)
  add_library(OpenBLAS::OpenBLAS UNKNOWN IMPORTED)
  set_target_properties(OpenBLAS::OpenBLAS PROPERTIES
    IMPORTED_LOCATION "${OpenBLAS_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${OpenBLAS_INCLUDE_DIR}")
endif()
mark_as_advanced(OpenBLAS_INCLUDE_DIR OpenBLAS_LIBRARY)
