"""The native half of the lkl Python module (lkl._lkl), built by the
project's own CMake build for pip: everything but the module is configured
off (tests, benchmarks), the kernel is built as usual (with ccache when
present), and the module it makes is what the wheel gets. LKL_BUILD_DIR
names a build tree configured already: the module is built there instead."""

import os
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        given = os.environ.get("LKL_BUILD_DIR")
        if given:
            build = Path(given).resolve()
        else:
            build = Path(self.build_temp).resolve() / "cmake"
            subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build),
                            "-DCMAKE_BUILD_TYPE=Release",
                            "-DLKL_BUILD_TESTS=OFF",
                            "-DLKL_BUILD_BENCHMARKS=OFF",
                            f"-DPython3_EXECUTABLE={sys.executable}"],
                           check=True)
        subprocess.run(["cmake", "--build", str(build), "--target", "lkl_python",
                        "-j", str(os.cpu_count() or 2)], check=True)
        target = Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        built = build / "python" / "lkl" / target.name
        self.copy_file(str(built), str(target))


setup(ext_modules=[Extension("lkl._lkl", sources=[])],
      cmdclass={"build_ext": CMakeBuild})
