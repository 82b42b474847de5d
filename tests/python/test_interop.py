"""Interoperability with Python padocc 1.5.1 (the reference environment
/tmp/refenv, made by scripts/refenv.sh; PADOCC_REFENV overrides): a workdir
made by padocc 1.5.1 is read and advanced by this package, and the other way
round. padocc 1.5.1 runs in subprocesses of its own interpreter; nothing is
installed into its environment."""

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / 'samples'
REFPY = Path(os.environ.get('PADOCC_REFENV', '/tmp/refenv')) / 'bin' / 'python'
MARK = '@@RESULT@@'


@pytest.fixture(scope='module')
def refpy() -> str:
    # scripts/test.sh makes the environment first: a missing one is a failure.
    if not REFPY.exists():
        subprocess.run(['bash', str(REPO / 'scripts' / 'refenv.sh')], check=True)
    r = subprocess.run([str(REFPY), '-c', 'import padocc; print(padocc.__file__)'],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f'padocc 1.5.1 is not importable in {REFPY}: {r.stderr[-300:]}'
    # The reference must be the real padocc 1.5.1, not this package.
    assert 'padocc_rs' not in r.stdout and 'site-packages' in r.stdout, r.stdout
    return str(REFPY)


def run_ref(refpy: str, code: str, cwd: Path) -> dict:
    """Run `code` under padocc 1.5.1; it calls out(obj) once with its results."""
    prelude = textwrap.dedent(f'''
        import json, sys, io, contextlib
        def out(obj):
            print({MARK!r} + json.dumps(obj, default=str))
        def captured(fn, *a, **kw):
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                fn(*a, **kw)
            return buf.getvalue()
    ''')
    r = subprocess.run([refpy, '-c', prelude + textwrap.dedent(code)], cwd=cwd,
                       capture_output=True, text=True, timeout=300)
    lines = [l for l in r.stdout.splitlines() if l.startswith(MARK)]
    assert r.returncode == 0 and lines, f'padocc 1.5.1 failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}'
    return json.loads(lines[-1][len(MARK):])


def write_input(path: Path, rows) -> Path:
    path.write_text(''.join(f'{code},{SAMPLES / series}/*.nc,,\n' for code, series in rows))
    return path


ROWS = [('rain1d', 'padocc-1DAgg'), ('cmip6ta', 'cmip6-FGOALS-g3-Amon-ta')]


def test_reference_workdir_advanced_by_us(refpy, tmp_path, monkeypatch, capsys):
    """padocc 1.5.1 inits and scans; we read the statuses, compute and validate;
    padocc 1.5.1 then reads our statuses and opens our products."""
    from padocc import GroupOperation, ProjectOperation
    from padocc.core.utils import BypassSwitch
    wd = tmp_path / 'wd'
    inp = write_input(tmp_path / 'in.csv', ROWS)
    ref = run_ref(refpy, f'''
        from padocc import GroupOperation
        g = GroupOperation('refgroup', workdir={str(wd)!r}, verbose=0)
        g.init_from_file({str(inp)!r})
        out({{'scan': g.run('scan', forceful=True), 'codes': g.proj_codes['main'].get()}})
    ''', tmp_path)
    assert ref == {'scan': {'Success': 2}, 'codes': ['rain1d', 'cmip6ta']}

    monkeypatch.chdir(tmp_path)
    g = GroupOperation('refgroup', workdir=str(wd), verbose=0)
    assert g.proj_codes['main'].get() == ['rain1d', 'cmip6ta']
    assert g.get_codes_by_status()['scan'] == {'Success': [0, 1]}
    capsys.readouterr()
    g.summarise_status()
    text = capsys.readouterr().out
    assert 'Total Codes: 2' in text and 'scan' in text and 'Success : 2' in text, text
    p = ProjectOperation('cmip6ta', workdir=str(wd), groupID='refgroup')
    assert p.get_last_status().split(',')[:2] == ['scan', 'Success']
    assert p.detail_cfg['num_files'] == 7 and p.source_format == 'hdf5'

    assert g.run('compute') == {'Success': 2}
    res = g.run('validate', bypass=BypassSwitch('DS'))
    assert sum(res.values()) == 2 and set(res) <= {'Success', 'Warning'}, res
    for code in ('rain1d', 'cmip6ta'):
        pp = ProjectOperation(code, workdir=str(wd), groupID='refgroup')
        assert pp.get_last_status().split(',')[0] == 'validate'
    ds = ProjectOperation('rain1d', workdir=str(wd), groupID='refgroup').kfile.open_dataset()
    assert ds.sizes['time'] == 8

    back = run_ref(refpy, f'''
        from padocc import GroupOperation, ProjectOperation
        g = GroupOperation('refgroup', workdir={str(wd)!r}, verbose=0)
        res = {{'codes': g.get_codes_by_status(), 'summary': captured(g.summarise_status)}}
        for code in ('rain1d', 'cmip6ta'):
            p = ProjectOperation(code, workdir={str(wd)!r}, groupID='refgroup')
            res[code] = {{'status': p.get_last_status(), 'sizes': dict(p.kfile.open_dataset().sizes)}}
        out(res)
    ''', tmp_path)
    assert back['codes']['validate'] and sorted(sum(back['codes']['validate'].values(), [])) == [0, 1], back['codes']
    assert 'validate' in back['summary'] and 'Total Codes: 2' in back['summary'], back['summary']
    assert back['rain1d']['status'].startswith('validate,') and back['rain1d']['sizes']['time'] == 8
    assert back['cmip6ta']['status'].startswith('validate,') and back['cmip6ta']['sizes']['time'] > 0


def test_our_workdir_advanced_by_reference(refpy, tmp_path, monkeypatch):
    """We init, scan and compute (kerchunk and zarr); padocc 1.5.1 reads the
    statuses, summarises, opens the products and validates; we read its results."""
    from padocc import GroupOperation, ProjectOperation
    wd = tmp_path / 'wd'
    inp = write_input(tmp_path / 'in.csv', ROWS + [('rain1d_z', 'padocc-1DAgg')])
    monkeypatch.chdir(tmp_path)
    g = GroupOperation('ourgroup', workdir=str(wd), verbose=0)
    g.init_from_file(str(inp))
    assert g.run('scan') == {'Success': 3}
    assert g.run('compute', repeat_id='main', proj_code='rain1d') == {'Success': 1}
    assert g.run('compute', proj_code='cmip6ta') == {'Success': 1}
    assert g.run('compute', mode='zarr', proj_code='rain1d_z') == {'Success': 1}

    ref = run_ref(refpy, f'''
        from padocc import GroupOperation, ProjectOperation
        from padocc.core.utils import BypassSwitch
        wd = {str(wd)!r}
        g = GroupOperation('ourgroup', workdir=wd, verbose=0)
        res = {{'codes': g.get_codes_by_status(), 'main': g.proj_codes['main'].get(),
                'status': captured(g.summarise_status), 'data': captured(g.summarise_data),
                'info': g.info()}}
        for code in ('rain1d', 'cmip6ta'):
            p = ProjectOperation(code, workdir=wd, groupID='ourgroup')
            res[code] = {{'status': p.get_last_status(), 'format': p.cloud_format,
                         'files': p.detail_cfg['num_files'], 'sizes': dict(p.kfile.open_dataset().sizes)}}
        z = ProjectOperation('rain1d_z', workdir=wd, groupID='ourgroup')
        res['rain1d_z'] = {{'format': z.cloud_format, 'sizes': dict(z.zstore.open_dataset().sizes)}}
        res['validate'] = g.run('validate', forceful=True, bypass=BypassSwitch('DS'), proj_code='rain1d')
        out(res)
    ''', tmp_path)
    assert ref['main'] == ['rain1d', 'cmip6ta', 'rain1d_z']
    assert ref['info']['ourgroup']['projects'] == 3
    assert ref['codes']['compute'] == {'Success': [0, 1, 2]}, ref['codes']
    assert 'Total Codes: 3' in ref['status'] and 'compute' in ref['status'] and 'Success : 3' in ref['status'], ref['status']
    assert 'Project Codes Assessed: 3' in ref['data'] and 'Source Files: 23' in ref['data'], ref['data']
    assert ref['rain1d'] == {'status': ref['rain1d']['status'], 'format': 'kerchunk', 'files': 8,
                             'sizes': {'time': 8, 'lat': 10, 'lon': 20}}
    assert ref['rain1d']['status'].startswith('compute,Success')
    assert ref['cmip6ta']['files'] == 7 and ref['cmip6ta']['sizes']['time'] > 0
    assert ref['rain1d_z'] == {'format': 'zarr', 'sizes': {'time': 8, 'lat': 10, 'lon': 20}}
    # Our products carry padocc's provenance (aggregation, aggregation_date),
    # which padocc 1.5.1's validate reports on its own products too: a warning.
    assert ref['validate'] == {'Warning': 1}, ref['validate']

    # padocc 1.5.1's validation, read back here.
    p = ProjectOperation('rain1d', workdir=str(wd), groupID='ourgroup')
    phase, status = p.get_last_status().split(',')[:2]
    assert phase == 'validate' and 'Warn-global_aggregation' in status, p.get_last_status()


def test_group_statuses_see_reference_rows(refpy, tmp_path, monkeypatch):
    from padocc import GroupOperation, ProjectOperation
    wd = tmp_path / 'wd'
    inp = write_input(tmp_path / 'in.csv', ROWS[:1])
    monkeypatch.chdir(tmp_path)
    g = GroupOperation('ourgroup', workdir=str(wd), verbose=0)
    g.init_from_file(str(inp))
    assert g.run('scan') == {'Success': 1}
    run_ref(refpy, f'''
        from padocc import ProjectOperation
        p = ProjectOperation('rain1d', workdir={str(wd)!r}, groupID='ourgroup')
        p.update_status('validate', 'Success', jobid='0')
        out(p.get_last_status())
    ''', tmp_path)
    assert ProjectOperation('rain1d', workdir=str(wd), groupID='ourgroup').get_last_status().startswith('validate,Success')
    codes = GroupOperation('ourgroup', workdir=str(wd), verbose=0).get_codes_by_status()
    assert codes['validate'] == {'Success': [0]} and codes['scan'] == {}, codes


def test_phases_alternate_between_padocc_and_us(refpy, tmp_path, monkeypatch):
    """One workdir, the tools taking turns both ways round: init by one, scan by
    the other, update_status by padocc 1.5.1, then status and the next phase by
    us; nothing is lost or misread."""
    from padocc import GroupOperation, ProjectOperation
    monkeypatch.chdir(tmp_path)
    wd = tmp_path / 'wd'
    inp = write_input(tmp_path / 'in.csv', ROWS[:1])

    # padocc inits, we scan, padocc marks the project for a redo, we see it and compute.
    run_ref(refpy, f'''
        from padocc import GroupOperation
        g = GroupOperation('a', workdir={str(wd)!r}, verbose=0)
        g.init_from_file({str(inp)!r})
        out(g.proj_codes['main'].get())
    ''', tmp_path)
    g = GroupOperation('a', workdir=str(wd), verbose=0)
    assert g.run('scan') == {'Success': 1}
    ref = run_ref(refpy, f'''
        from padocc import ProjectOperation
        p = ProjectOperation('rain1d', workdir={str(wd)!r}, groupID='a')
        before = p.get_last_status()
        p.update_status('scan', 'Redo', jobid='42')
        out({{'before': before, 'after': p.get_last_status()}})
    ''', tmp_path)
    assert ref['before'].startswith('scan,Success'), ref
    p = ProjectOperation('rain1d', workdir=str(wd), groupID='a')
    assert p.get_last_status().split(',')[:2] == ['scan', 'Redo'], p.get_last_status()
    assert GroupOperation('a', workdir=str(wd), verbose=0).get_codes_by_status()['scan'] == {'Redo': [0]}
    assert g.run('compute') == {'Success': 1}
    assert GroupOperation('a', workdir=str(wd), verbose=0).get_codes_by_status()['compute'] == {'Success': [0]}

    # The other way round: we init, padocc scans and marks, we see it and compute.
    g = GroupOperation('b', workdir=str(wd), verbose=0)
    g.init_from_file(str(inp))
    ref = run_ref(refpy, f'''
        from padocc import GroupOperation, ProjectOperation
        g = GroupOperation('b', workdir={str(wd)!r}, verbose=0)
        res = {{'scan': g.run('scan', forceful=True)}}
        p = ProjectOperation('rain1d', workdir={str(wd)!r}, groupID='b')
        res['num_files'] = p.detail_cfg['num_files']
        p.update_status('scan', 'Success', jobid='43')
        res['last'] = p.get_last_status()
        out(res)
    ''', tmp_path)
    assert ref['scan'] == {'Success': 1} and ref['num_files'] == 8, ref
    p = ProjectOperation('rain1d', workdir=str(wd), groupID='b')
    assert p.get_last_status().split(',')[:2] == ['scan', 'Success']
    assert p.detail_cfg['num_files'] == 8
    assert g.run('compute') == {'Success': 1}
    back = run_ref(refpy, f'''
        from padocc import ProjectOperation
        p = ProjectOperation('rain1d', workdir={str(wd)!r}, groupID='b')
        out({{'last': p.get_last_status(), 'sizes': dict(p.kfile.open_dataset().sizes)}})
    ''', tmp_path)
    assert back['last'].startswith('compute,Success') and back['sizes']['time'] == 8, back
