"""docs/notebooks/tour.ipynb, executed for real with nbclient in a kernel of
this venv (scripts/python-tests.sh installs nbclient, ipykernel and nbformat
and registers the kernel `padocc-pyenv` in the venv). Checks that no cell
fails and that the key cells show the expected statuses and text."""

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / 'docs' / 'notebooks' / 'tour.ipynb'
KERNEL = os.environ.get('PADOCC_NB_KERNEL', 'padocc-pyenv')

# scripts/python-tests.sh installs both: missing, the test fails rather than skips.
import nbclient  # noqa: E402
import nbformat  # noqa: E402


def kernel_name() -> str:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        pytest.fail(f'kernel {KERNEL!r} is not registered (scripts/python-tests.sh registers it)')
    # The kernel must be this venv's interpreter, so that it imports the installed package.
    exe = spec.argv[0]
    assert os.path.realpath(exe) == os.path.realpath(sys.executable) or \
        Path(exe).parent.resolve() == Path(sys.executable).parent.resolve(), (exe, sys.executable)
    return KERNEL


def text_of(cell) -> str:
    parts = []
    for out in cell.get('outputs', []):
        if out['output_type'] == 'stream':
            parts.append(out['text'])
        elif out['output_type'] in ('execute_result', 'display_data'):
            parts.append(out['data'].get('text/plain', ''))
    return ''.join(parts)


@pytest.fixture(scope='module')
def executed(tmp_path_factory):
    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    # IPython's profile and Jupyter's connection files go to a temporary directory too.
    scratch = tmp_path_factory.mktemp('jupyter')
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('IPYTHONDIR', str(scratch / 'ipython'))
        mp.setenv('JUPYTER_RUNTIME_DIR', str(scratch / 'runtime'))
        client = nbclient.NotebookClient(
            nb, kernel_name=kernel_name(), timeout=300,
            # The kernel starts in the notebook's directory (the samples are found
            # from there); its first cell moves to a temporary directory.
            resources={'metadata': {'path': str(NOTEBOOK.parent)}},
            allow_errors=True)
        client.execute(env=dict(os.environ, PADOCC_REPO=str(REPO)))
    return {c.get('id'): c for c in nb.cells}


def test_no_errors(executed):
    errors = []
    for cid, cell in executed.items():
        if cell.cell_type != 'code':
            continue
        assert cell.get('execution_count'), f'cell {cid} was not executed'
        for out in cell.get('outputs', []):
            if out['output_type'] == 'error':
                errors.append(f"{cid}: {out['ename']}: {out['evalue']}")
            elif out['output_type'] == 'stream' and out['name'] == 'stderr':
                assert 'Traceback' not in out['text'] and 'ERROR' not in out['text'], f'{cid}: {out["text"]}'
    assert not errors, errors


def test_every_workflow_is_there(executed):
    md = '\n'.join(''.join(c.source) for c in executed.values() if c.cell_type == 'markdown')
    for w in range(1, 10):
        assert f'## W{w}:' in md, f'W{w} missing'


EXPECTED = {
    'w1-init': ['my_group:', 'projects: 3'],
    'w1-inspect': ["'projects': 3", "['rain1d', 'rain1d_z', 'cmip6ta']"],
    'w2-scan': ["{'Success': 3}"],
    'w2-compute': ["{'Success': 3}"],
    'w2-zarr': ["{'Success': 1}"],
    'w2-validate': ["{'Success': 3}"],
    'w3-status': ['Total Codes: 3', 'validate', 'Success : 3'],
    'w3-data': ['Source Files: 23', "'kerchunk'", "'zarr'"],
    'w3-codes': ["'validate': {'Success': [0, 1, 2]}", 'rain1d: 8', 'cmip6ta: 7'],
    'w4-repeat': ["['rain1d', 'rain1d_z', 'cmip6ta']", "{'Success': 3}"],
    'w4-subsets': ["'main_copy_2'", "'main_copy'"],
    'w5-info': ["'File count': 8", "Revision: '1.0'"],
    'w5-status': ["validate,Success", 'Project Code: cmip6ta', "'data': None"],
    'w5-version': ['1.1 k1.1a', "{'Success': 1}"],
    'w5-revalidate': ["{'Success': 1}"],
    'w6-kerchunk': ["'time': 8", "'nemo': 'alpha13'"],
    'w6-zarr-cfa': ['zarr r1.0', "'time': 8"],
    'w6-edit': ["'target_id': 0"],
    'w7-add': ["'rain1d_copy'"],
    'w7-transfer': ["3 1 ['rain1d_copy']", '\n0\n'],
    'w8-defaults': ["'institution': 'CEDA (tour)'", "'NEMO_VERSION': 'alpha13'", "'time': 8"],
    'w9-stac': ["'cloud_format': 'kerchunk'", "'source_fmt': 'hdf5'", "'cloud_format': 'zarr'"],
    'w9-complete': ['complete  : 3', '[100.%]'],
    'cleanup': ['False'],
}


@pytest.mark.parametrize('cid', sorted(EXPECTED))
def test_key_cells(executed, cid):
    assert cid in executed, f'cell {cid} not found'
    text = text_of(executed[cid])
    for want in EXPECTED[cid]:
        assert want in text, f'{cid}: {want!r} not in\n{text}'
    if cid == 'w8-defaults':
        # renamed: the old name is gone from the attributes
        assert "'nemo'" not in text, text
