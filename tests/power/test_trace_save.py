"""A trace save cut short by Ctrl-C or SIGTERM ends as the interrupt, not as numpy's clean-up error."""
import io
import zipfile

import numpy as np
import pytest

from hostlink.power.base import SAMPLE_DTYPE, Trace


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the torn zip's __del__
def test_an_interrupt_inside_the_zip_writer_stays_an_interrupt(mocker):
    def interrupted_close(self):
        raise KeyboardInterrupt  # lands while the member is being closed, as a signal can

    mocker.patch.object(zipfile._ZipWriteFile, "close", interrupted_close)
    with pytest.raises(ValueError, match="open writing handle"):  # what numpy alone surfaces
        np.savez_compressed(io.BytesIO(), a=np.zeros(3))
    with pytest.raises(KeyboardInterrupt):
        Trace(100_000.0, np.zeros(100, SAMPLE_DTYPE), 0).save(io.BytesIO())


def test_a_saved_trace_loads_back():
    t = Trace(100_000.0, np.arange(50).astype(SAMPLE_DTYPE), 7)
    buf = io.BytesIO()
    t.save(buf, board="x")
    buf.seek(0)
    back = Trace.load(buf)
    assert back.sample_rate_hz == t.sample_rate_hz and back.start_index == 7
    assert np.array_equal(back.samples, t.samples)
