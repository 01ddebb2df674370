# trim_python_nvidia_dirs(<out-var> <package>): the folders of PyTorch's `nvidia/<package>` wheels
# (e.g. nvidia/cudnn, nvidia/nccl) in every Python found on PATH. Many GPU machines have their only
# copy of cuDNN and NCCL there.
function(trim_python_nvidia_dirs out package)
  set(dirs "")
  foreach(py python3 python)
    find_program(_trim_py_${py} ${py})
    if(_trim_py_${py})
      execute_process(
        COMMAND ${_trim_py_${py}} -c
          "import importlib.util as u, sys\ns = u.find_spec('nvidia.${package}')\nprint(';'.join(s.submodule_search_locations) if s else '')"
        OUTPUT_VARIABLE found OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      list(APPEND dirs ${found})
    endif()
  endforeach()
  list(REMOVE_DUPLICATES dirs)
  set(${out} ${dirs} PARENT_SCOPE)
endfunction()
