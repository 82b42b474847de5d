"""The installed package: light import, the engine through padocc's API,
errors, the console command, and HDF5 libraries side by side."""

import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import padocc_command, run_python


def write_csv(path: Path, data: Path, codes=('1DAgg', '1DAgg_z')) -> Path:
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        for c in codes:
            w.writerow([c, f'{data}/*.nc', '', ''])
    return path


def test_import_is_light(tmp_path):
    r = run_python(textwrap.dedent('''
        import sys, time
        t0 = time.perf_counter()
        import padocc
        dt = time.perf_counter() - t0
        heavy = [m for m in ('xarray', 'numpy', 'zarr', 'netCDF4', 'h5py', 'fsspec', 'yaml', 'padocc._padocc') if m in sys.modules]
        print(dt, heavy)
        assert not heavy, heavy
        assert padocc.__version__ == '1.5.1'
        assert padocc.GroupOperation and padocc.ProjectOperation
    '''), cwd=tmp_path)
    assert r.returncode == 0, r.stderr + r.stdout


def test_engine_is_the_compiled_module():
    import padocc
    from padocc import _native
    import padocc._padocc as ext
    assert _native.available()
    assert _native.engine_version() == ext.engine_version()
    assert padocc.__engine_version__ == ext.engine_version()
    assert ext.__file__.endswith(('.so', '.pyd'))
    _native.interrupt()  # nothing running: a no-op


def test_group_init_scan_compute_validate(tmp_path, workdir, data_1dagg, monkeypatch):
    from padocc import GroupOperation, ProjectOperation
    from padocc.core.utils import BypassSwitch
    monkeypatch.chdir(tmp_path)
    inp = write_csv(tmp_path / 'Aggs.csv', data_1dagg)

    g = GroupOperation('pytest-group', workdir=str(workdir), label='pytest', verbose=0)
    g.init_from_file(str(inp))
    assert g.info()['pytest-group']['projects'] == 2
    proj = workdir / 'in_progress' / 'pytest-group' / '1DAgg'
    assert (proj / 'allfiles.txt').read_text().split('\n')[0] == str(data_1dagg / 'file0.nc')
    assert json.loads((proj / 'detail-cfg.json').read_text())['num_files'] == 8

    assert g.run('scan', forceful=True) == {'Success': 2}
    assert g.run('compute', forceful=True, proj_code='1DAgg') == {'Success': 1}
    assert g.run('compute', mode='zarr', forceful=True, proj_code='1DAgg_z', bypass=BypassSwitch('D')) == {'Success': 1}
    res = g.run('validate', forceful=True, bypass=BypassSwitch('DS'))
    assert sum(res.values()) == 2 and set(res) <= {'Success', 'Warning'}, res

    from padocc import _native
    cur = _native.current_statuses(str(workdir), 'pytest-group', ['1DAgg', '1DAgg_z'])
    assert {c: r['phase'] for c, r in cur.items()} == {'1DAgg': 'validate', '1DAgg_z': 'validate'}, cur

    p = ProjectOperation('1DAgg', workdir=str(workdir), groupID='pytest-group')
    assert p.get_last_status().split(',')[0] == 'validate'
    assert p.get_log_contents('scan')
    ds = p.kfile.open_dataset()
    assert 'time' in ds.dims and ds.sizes['time'] > 0
    z = ProjectOperation('1DAgg_z', workdir=str(workdir), groupID='pytest-group')
    assert z.zstore.open_dataset().sizes['time'] == ds.sizes['time']


def test_progress_and_logging(tmp_path, workdir, data_1dagg, monkeypatch, caplog):
    """Engine log records reach Python's logging (logger padocc_engine)."""
    import logging
    from padocc import _native
    monkeypatch.chdir(tmp_path)
    _native.init_projects(str(workdir), 'g', [{'proj_code': 'p', 'pattern': sorted(str(f) for f in data_1dagg.glob('*.nc'))}])
    ticks = []
    with caplog.at_level(logging.INFO, logger='padocc_engine'):
        import padocc._padocc as ext
        r = ext.run_phase(str(workdir), 'g', 'scan', ['p'], {'force': True}, lambda label, done, total: ticks.append((label, done, total)))
    assert [o['status'] for o in r['results']] == ['Success']
    assert any(rec.name == 'padocc_engine' and 'p [0] scan Success' in rec.getMessage() for rec in caplog.records), caplog.records


def test_engine_error_is_padocc_exception_with_cli_message(tmp_path, workdir, data_1dagg, monkeypatch):
    from padocc import _native
    from padocc.core import errors
    monkeypatch.chdir(tmp_path)
    inp = write_csv(tmp_path / 'Aggs.csv', data_1dagg, codes=('a',))
    cli = subprocess.run([padocc_command(), 'init', '-G', 'g', '-i', str(inp), '-w', str(workdir)], capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr

    # The same failure through the CLI and through Python: an unknown project.
    cli = subprocess.run([padocc_command(), 'scan', '-G', 'g', '-p', 'nope', '-w', str(workdir)], capture_output=True, text=True)
    assert cli.returncode == 2
    message = cli.stderr.strip().removeprefix('padocc: error: ')
    with pytest.raises(errors.EngineUsageError) as info:
        _native.run_phase(str(workdir), 'g', 'scan', ['nope'], {})
    assert isinstance(info.value, ValueError) and isinstance(info.value, errors.EngineError)
    assert str(info.value) == message
    assert info.value.exit_code == 2

    # A group that does not exist.
    cli = subprocess.run([padocc_command(), 'scan', '-G', 'missing', '-w', str(workdir)], capture_output=True, text=True)
    message = cli.stderr.strip().removeprefix('padocc: error: ')
    with pytest.raises(errors.EngineError) as info:
        _native.run_phase(str(workdir), 'missing', 'scan', ['a'], {})
    assert str(info.value) == message and info.value.exit_code == cli.returncode

    # An input error: the netCDF attribute reader on a file that is not netCDF.
    bad = tmp_path / 'x.nc'
    bad.write_text('not netCDF')
    with pytest.raises(errors.EngineError):
        _native.nca_meta(str(bad))


def test_console_command(tmp_path):
    r = subprocess.run([padocc_command(), '--version'], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith('padocc ')
    r = subprocess.run([padocc_command(), 'no-such-command'], capture_output=True, text=True)
    assert r.returncode == 2 and 'no-such-command' in r.stderr
    from padocc.cli import main
    assert main(['--version']) == 0


def test_shepard_command_runs_padoccs_crontab_line(tmp_path, data_1dagg):
    # padocc 1.5.1's crontab line: `shepard batch --conf conf.yaml`, in-process.
    exe = shutil.which('shepard', path=os.path.dirname(sys.executable))
    assert exe, 'the shepard console command is not installed beside this interpreter'
    (tmp_path / 'sweep').mkdir()
    (tmp_path / 'sweep' / 'oneD.txt').write_text(''.join(f'{f}\n' for f in sorted(data_1dagg.glob('*.nc'))))
    conf = tmp_path / 'conf.yaml'
    conf.write_text(f'flock_dir: {tmp_path}/flocks\ncomplete_dir: {tmp_path}/done\nbatch_limit: 10\n'
                    f'sweep_dir: {tmp_path}/sweep\ncache_dir: {tmp_path}/cache\nobliterate_quarantine: false\n')
    r = subprocess.run([exe, 'batch', '--conf', str(conf), '--autolog'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + r.stdout
    assert 'new flock SHEPARD_' in r.stdout and 'retired flock' in r.stdout, r.stdout
    assert (tmp_path / 'done' / 'data' / 'oneD_k1.0.json').exists()
    assert list((tmp_path / 'flocks' / 'shp_logs').glob('shp_*'))
    r = subprocess.run([exe, 'status', '--conf', str(conf)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith('Group ID:'), r.stderr + r.stdout


def test_nca_attributes_roundtrip(tmp_path, data_1dagg):
    import shutil
    from padocc import _native
    f = tmp_path / 'f.nc'
    shutil.copy(data_1dagg / 'file0.nc', f)
    before = _native.nca_meta(str(f))
    _native.set_nca_meta(str(f), {'history': 'made by a test', 'n': 3, 'xs': [1.5, 2.5]}, remove=['no_such_attribute'])
    after = _native.nca_meta(str(f))
    assert after['history'] == 'made by a test' and after['n'] == 3 and after['xs'] == [1.5, 2.5]
    assert {k: v for k, v in after.items() if k in before} .keys() == before.keys()
    _native.set_nca_meta(str(f), {}, remove=['n'])
    assert 'n' not in _native.nca_meta(str(f))


SIDE_BY_SIDE = '''
import glob, sys
files = sorted(glob.glob(sys.argv[1] + '/*.nc'))
def use_padocc():
    from padocc import _native
    import padocc._padocc as ext
    assert _native.nca_meta(files[0]) is not None
    _native.init_projects(sys.argv[2], 'g', [{'proj_code': 'p', 'pattern': files}])
    r = ext.run_phase(sys.argv[2], 'g', 'scan', ['p'], {'force': True})
    assert [o['status'] for o in r['results']] == ['Success'], r
def use_h5py_netcdf4():
    import h5py, netCDF4
    with h5py.File(files[1], 'r') as f:
        assert len(list(f.keys())) > 0
    with netCDF4.Dataset(files[2]) as d:
        assert len(d.variables) > 0
'''


@pytest.mark.parametrize('order', ['h5py-first', 'padocc-first'])
def test_h5py_and_netcdf4_beside_padocc(tmp_path, workdir, data_1dagg, order):
    first, second = ('use_h5py_netcdf4', 'use_padocc') if order == 'h5py-first' else ('use_padocc', 'use_h5py_netcdf4')
    if order == 'h5py-first':
        code = SIDE_BY_SIDE + 'import h5py, netCDF4\nimport padocc\n'
    else:
        code = SIDE_BY_SIDE + 'import padocc\nimport padocc._padocc\nimport h5py, netCDF4\n'
    code += f'{first}()\n{second}()\n{first}()\nprint("ok")\n'
    import sys
    r = subprocess.run([sys.executable, '-c', code, str(data_1dagg), str(workdir)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip().endswith('ok'), r.stderr[-3000:]


def test_interrupt_from_progress(tmp_path, workdir, data_1dagg):
    """An exception in the progress callback (a notebook's Ctrl-C) cancels
    the run: projects not started are left, the result says interrupted.
    (Progress comes at most ten times a second and at the end, so how many
    projects ran first depends on the machine.)"""
    import padocc._padocc as ext
    files = sorted(str(f) for f in data_1dagg.glob('*.nc'))
    codes = [f'p{i}' for i in range(6)]
    ext.init_projects(str(workdir), 'g', [{'proj_code': c, 'pattern': files} for c in codes])
    assert [o['status'] for o in ext.run_phase(str(workdir), 'g', 'scan', codes, {'jobs': 1})['results']] == ['Success'] * 6

    def stop(label, done, total):
        raise KeyboardInterrupt

    r = ext.run_phase(str(workdir), 'g', 'compute', codes, {'force': True, 'jobs': 1}, stop)
    assert r['interrupted'] is True, r
    assert len(r['results']) <= 6 and {o['status'] for o in r['results']} <= {'Success', 'Interrupted'}, r


def test_rewrite_cfa_uris(tmp_path, data_1dagg):
    import netCDF4
    from padocc import _native
    out = tmp_path / 'agg.nca'
    r = subprocess.run([padocc_command(), 'cfa', *sorted(str(f) for f in data_1dagg.glob('*.nc')), '-o', str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    n = _native.rewrite_nca_uris(str(out), str(data_1dagg) + '/', 'https://example.org/data/')
    assert n >= 8  # one per file and fragment layout
    assert _native.rewrite_nca_uris(str(out), '/nowhere/', 'x') == 0
    with netCDF4.Dataset(out) as d:
        uris = [str(u) for name, v in d.variables.items() if name.startswith('fragment_uris') for u in v[:].ravel()]
    assert len(uris) == n and all(u.startswith('https://example.org/data/file') for u in uris), uris


def test_project_outside_main(tmp_path, workdir, data_1dagg):
    """A project made on its own (ProjectOperation(first_time=True)) is not in
    its group's main list; its phases still run."""
    from padocc import GroupOperation, ProjectOperation
    from padocc.phases import ScanOperation
    GroupOperation('gx', workdir=str(workdir), verbose=0)
    ProjectOperation('solo', workdir=str(workdir), groupID='gx', first_time=True, ft_kwargs={'pattern': f'{data_1dagg}/*.nc'}, verbose=0)
    assert ScanOperation('solo', workdir=str(workdir), groupID='gx', verbose=0).run(forceful=True) == 'Success'
    assert ProjectOperation('solo', workdir=str(workdir), groupID='gx').get_last_status().split(',')[:2] == ['scan', 'Success']
